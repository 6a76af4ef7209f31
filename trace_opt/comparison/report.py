"""The evaluation report: one command from a dataset name to a folder with Markdown, JSON and figures.

``run_report(dataset, n, out, config, report)`` loads a bundled scikit-learn dataset and its small model
(``trace_opt.models.data``), or takes your own model and inputs as a ``Setup`` (``make_setup``; on the
command line ``--model FILE --data FILE.npy``), evaluates TRACE and the baselines on the first ``n`` test inputs
(``trace_opt.comparison.evaluation``; resumable, one cached JSON per finished input under ``out/cache``),
runs the randomisation sanity check on the first ``ReportSettings.sanity_n`` inputs, draws the figures
(``trace_opt.comparison.report_plots``) and writes ``out/report.md`` and ``out/results.json`` (every number).

Datasets: ``digits8`` (CNN on 8 x 8 digits, 4 x 4 grid of 2 x 2 patches, t = 16, zero reference),
``digits28`` (CNN on digits upsampled to 28 x 28, 7 x 7 grid of 4 x 4 patches, t = 49, zero
reference), ``breast-cancer`` (MLP on 30 standardised columns, t = 30, reference = training mean),
``breast-cancer-sklearn`` (a scikit-learn HistGradientBoostingClassifier on the same data, seen only
as a black box through ``CallableOracle``: logit = its log-odds split as (-d/2, d/2), prob =
``predict_proba``).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from solvers import describe_start
from trace_opt.comparison import report_plots as rp
from trace_opt.comparison.evaluation import (
    DELETION_OPERATOR_BASELINES,
    PAPER_BASELINES,
    BlackBox,
    EvaluationConfig,
    evaluate_inputs,
    evaluation_oracle,
    method_label,
    paper_sa_iterations,
    sanity_check,
    summarise,
    trace_name,
    with_sa_iterations,
)
from trace_opt.core.features import Features, as_features, grid_features, tabular_features
from trace_opt.core.fingerprint import model_fingerprint
from trace_opt.core.io import atomic_write_bytes, check_output_dir, json_values, stop_on_interrupt
from trace_opt.core.problem import TraceProblem, ranks_of
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.explanation.plots import plot_deletion_sequence
from trace_opt.explanation.rankings import trajectory_to_heatmap
from trace_opt.explanation.single import torch_threads
from trace_opt.models import data
from trace_opt.models.oracles import as_device

DATASETS = ("digits8", "digits28", "breast-cancer", "breast-cancer-sklearn")


@dataclass
class Setup:
    """A dataset with its model, ready to evaluate."""

    name: str
    model: object
    inputs: list
    targets: list
    labels: list
    features: Features
    reference: object
    description: str
    image: bool
    #: how the inputs and targets were chosen (said in the report)
    selection: str = "the first {n} test inputs; target = the model's predicted class"


def _predict(model, X) -> np.ndarray:
    if isinstance(model, torch.nn.Module):
        with torch.inference_mode():
            return model(X).argmax(dim=1).numpy()
    return np.asarray(model(X.numpy().astype(np.float64))).argmax(axis=1)


def load_setup(dataset: str, n: int, data_seed: int = 0, model_seed: int = 0, cache_dir=None) -> Setup:
    """The model, the first ``n`` test inputs, targets (the model's predicted class), features and reference.

    ``data_seed`` picks the train/test split; ``model_seed`` the model's weights (0: the shipped weights of the
    bundled models, trained with that seed; another seed trains here). The search seed is not among them (the
    seed policy of ``trace_opt.explanation.settings``)."""
    check_positive_int("data_seed", data_seed, minimum=0)
    check_positive_int("model_seed", model_seed, minimum=0)
    check_choice("dataset", dataset, DATASETS)
    n = check_positive_int("n", n)
    if dataset in ("digits8", "digits28"):
        size = 8 if dataset == "digits8" else 28
        model = data.digits_cnn(size, model_seed=model_seed, cache_dir=cache_dir)
        _, X_test, _, y_test = data.load_digits_split(size, data_seed=data_seed)
        grid = 4 if size == 8 else 7
        feats = grid_features((size, size), grid)
        reference = "zeros"
        desc = (
            f"scikit-learn digits at {size}x{size} ({'raw' if size == 8 else 'upsampled bilinearly'}), "
            f"CNN `{type(model).__name__}` (test accuracy {model.test_accuracy:.3f}), {grid}x{grid} grid of "
            f"{size // grid}x{size // grid} patches (t = {feats.t}), reference = zeros (the digits' background)"
        )
        image = True
    else:
        X_train, X_test, y_train, y_test, names = data.load_breast_cancer_split(data_seed=data_seed)
        feats = tabular_features(X_test.shape[1], names=names)
        mean = X_train.mean(dim=0)
        image = False
        if dataset == "breast-cancer":
            model = data.breast_cancer_mlp(model_seed=model_seed, cache_dir=cache_dir)
            reference = mean
            desc = (
                f"scikit-learn breast cancer (30 standardised columns), MLP `{type(model).__name__}` "
                f"(test accuracy {model.test_accuracy:.3f}), one feature per column (t = 30), "
                "reference = training mean"
            )
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            clf = HistGradientBoostingClassifier(random_state=model_seed).fit(X_train.numpy(), y_train.numpy())
            acc = float((clf.predict(X_test.numpy()) == y_test.numpy()).mean())

            def logit(batch):
                d = clf.decision_function(np.asarray(batch, dtype=np.float64))
                return np.stack([-d / 2, d / 2], axis=1)  # softmax of these = predict_proba

            def prob(batch):
                return clf.predict_proba(np.asarray(batch, dtype=np.float64))

            model = BlackBox({"logit": logit, "prob": prob}, attribution_output="logit")
            reference = mean.double()
            desc = (
                f"scikit-learn breast cancer (30 standardised columns), black-box "
                f"`HistGradientBoostingClassifier(random_state={model_seed})` (test accuracy {acc:.3f}) seen only "
                "through numpy callables (`CallableOracle`): logit = log-odds d as (-d/2, d/2), prob = "
                "predict_proba; one feature per column (t = 30), reference = training mean"
            )
        X_test = X_test.double() if dataset == "breast-cancer-sklearn" else X_test
    n = min(n, len(X_test))
    X = X_test[:n]
    preds = _predict(model, X.float() if isinstance(model, torch.nn.Module) else X)
    return Setup(
        dataset,
        model,
        [X[i] for i in range(n)],
        [int(p) for p in preds],
        [int(v) for v in y_test[:n]],
        feats,
        reference,
        desc,
        image,
    )


def make_setup(
    model,
    inputs,
    targets=None,
    *,
    labels=None,
    features=None,
    reference="zeros",
    name: str = "custom",
    description: str | None = None,
) -> Setup:
    """A user's model and inputs, ready for ``run_report``.

    model : a torch module returning ``(B, n_classes)`` logits, or a ``BlackBox`` (numpy callables per
        output; only its outputs among logit/prob are evaluated, and gradient baselines do not apply).
    inputs : a tensor or array ``(N, *x.shape)``, or a list of N inputs of the same shape.
    targets : class per input; None = the model's predicted class.
    labels : true classes (optional; the report counts how many predictions equal them).
    features : a grid size over the last two dims, an integer feature map or a ``Features`` object;
        None = a 4 x 4 grid for images, one feature per column for 1-D rows (as ``explain``).
    reference : what deletion writes and what the baselines use as their baseline (kind or tensor).
    A torch module is put in eval mode (attributions and D(S) must be deterministic).
    """
    if not isinstance(model, (torch.nn.Module, BlackBox)):
        raise ValueError(
            f"model must be a torch.nn.Module or a trace_opt.comparison.evaluation.BlackBox; got "
            f"{type(model).__name__} (wrap a callable as BlackBox({{'prob': fn}}, attribution_output='prob'))"
        )
    if isinstance(model, torch.nn.Module):
        model.eval()
    dtype = torch.float32 if isinstance(model, torch.nn.Module) else torch.float64
    xs = [torch.as_tensor(np.asarray(x), dtype=dtype) for x in inputs]
    if not xs:
        raise ValueError("inputs must hold at least one input")
    shape = tuple(xs[0].shape)
    if any(tuple(x.shape) != shape for x in xs):
        raise ValueError(f"inputs must all have one shape; the first has {shape}")
    if features is None:
        features = 4 if len(shape) >= 2 else tabular_features(shape[0])
    feats = as_features(features, shape)
    if targets is None:
        targets = _predict(model, torch.stack(xs))
        rule = "the model's predicted class"
    else:
        rule = "given"
    targets = [int(v) for v in np.asarray(targets).reshape(-1)]
    if len(targets) != len(xs):
        raise ValueError(f"targets has {len(targets)} entries for {len(xs)} inputs")
    labels = None if labels is None else [int(v) for v in np.asarray(labels).reshape(-1)]
    if labels is not None and len(labels) != len(xs):
        raise ValueError(f"labels has {len(labels)} entries for {len(xs)} inputs")
    desc = description or (
        f"user model `{type(model).__name__}` on inputs of shape {shape}, {feats.t} features, "
        f"reference = {reference if isinstance(reference, str) else 'a given tensor'}"
    )
    return Setup(
        name,
        model,
        xs,
        targets,
        labels,
        feats,
        reference,
        desc,
        len(shape) >= 2,
        selection=f"the first {{n}} given inputs; target = {rule}",
    )


def _model_key(model) -> str:
    """The model's fingerprint (cached records of other weights are recomputed); a black box whose
    callables cannot be pickled is known by its type only (its records are still checked per input)."""
    return model_fingerprint(model) or type(model).__name__


def _model_outputs(model) -> tuple:
    """The outputs evaluated for ``model``: logit and prob, or those a BlackBox offers."""
    outputs = tuple(o for o in ("logit", "prob") if not isinstance(model, BlackBox) or o in model.outputs)
    if not outputs:
        raise ValueError(f"the black box offers outputs {sorted(model.outputs)}; the report needs 'logit' or 'prob'")
    return outputs


# --------------------------------------------------------------------------- markdown
def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:.3e}"


def _table_block(summary: dict, names: list, bold: str | None) -> list:
    labels = {**summary["labels"], "cs-bound": "CS bound"}
    lines = ["| row | " + " | ".join(labels[m] for m in names) + " |", "|---|" + "---:|" * len(names)]
    for o, tab in summary["table"].items():
        tag = "y" if o == "logit" else "p"
        best = (
            summary.get("headline", {}).get(o, {}).get("best_paper_baseline")
            if bold == "paper"
            else summary.get("headline", {}).get(o, {}).get("best_baseline")
            if bold == "all"
            else None
        )
        for key, row in (
            ("auc_le", f"LeRF AUC ({tag}) ↑"),
            ("auc_mo", f"MoRF AUC ({tag}) ↓"),
            ("le_mo", f"LeRF - MoRF ({tag}) ↑"),
        ):
            cells = []
            for m in names:
                s = _fmt(tab.get(m, {}).get(key))
                ci = tab.get(m, {}).get(f"ci_{key}")
                if ci is not None and np.isfinite(ci):
                    s = f"{s} ± {_fmt(ci, 2)}"  # 95 % Student-t half-width over the inputs
                cells.append(f"**{s}**" if key == "le_mo" and m == best else s)
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines


def table2_markdown(summary: dict) -> str:
    """The paper's Table 2: rows LeRF AUC, MoRF AUC and their difference per output, a column per method,
    in two blocks: the paper's own columns (T-y and T-p (Le-Mo), then its eight baselines in its order:
    Gradient, GradCAM, IBA, RISE (pixel), EP, EBP, IG, InputxGradient; bold = the best of them on
    LeRF - MoRF), then every other method (other TRACE variants, exact optima, the extra baselines, the
    CS bound; bold = the best of all baselines when it is in this block)."""
    methods = summary["methods"]
    paper = [m for m in (trace_name("logit", "le-mo"), trace_name("prob", "le-mo")) + PAPER_BASELINES if m in methods]
    others = [m for m in methods if m not in paper] + (["cs-bound"] if "complete" in summary else [])
    lines = ["**The paper's columns** (TRACE-(Le-Mo) and the paper's Table-2 baselines):", ""]
    lines += _table_block(summary, paper, "paper")
    if others:
        lines += [
            "",
            "**Other methods** (TRACE-Le/-Mo, exact optima, baselines outside the paper's set, CS bound):",
            "",
        ]
        lines += _table_block(summary, others, "all")
    return "\n".join(lines)


def sanity_markdown(sanity: dict) -> str:
    """The sanity tables: per step the mean Spearman correlation over the features that differ from the
    reference (blank patches excluded), and in brackets over all features (where the records have both)."""
    names = sanity["methods"]
    lines = []
    nb = "mean_nonblank" in (sanity["cascade"] or [{}])[0]
    for mode in ("cascade", "independent"):
        lines.append(
            f"\n**{mode} randomisation** (mean Spearman correlation of trajectory ranks with the "
            f"trained model's, over {sanity['n_inputs']} inputs"
            + (
                "; first over the features that differ from the reference only, in brackets over all "
                "features, where blank patches (equal to the reference, ordered by ties) count as "
                "agreement"
                if nb
                else ""
            )
            + ")\n"
        )
        lines.append("| randomised | " + " | ".join(method_label(m) for m in names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for s in sanity[mode]:
            label = ("up to " if mode == "cascade" else "") + s["label"]
            cells = [
                f"{s['mean_nonblank'][m]:.2f} ({s['mean'][m]:.2f})" if nb else f"{s['mean'][m]:.2f}" for m in names
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def passes_markdown(summary: dict) -> str:
    """Forward passes per input of each method (``summary['forward_passes']``)."""
    fp = summary.get("forward_passes") or {}
    rows = [(m, v) for m, v in fp.items() if m != "exact_table"]
    if not rows:
        return "Not recorded (records written before forward passes were counted)."
    lines = ["| method | forward passes per input (mean) | min | max | inputs counted |", "|---|---:|---:|---:|---:|"]
    for m, v in rows:
        lines.append(f"| {method_label(m)} | {v['mean']:,.0f} | {v['min']:,} | {v['max']:,} | {v['n']} |")
    missing = [m for m in summary["methods"] if m not in fp and not m.startswith("exact-")]
    text = "\n".join(lines)
    if "exact_table" in fp:
        e = fp["exact_table"]
        text += (
            f"\n\nExact optima and CS bounds: the complete table, {e['per_output']:,} forward passes per output "
            f"({e['outputs']} outputs) per input"
        )
        if e.get("tables_reused"):
            text += (
                f"; {e['tables_reused']} of the {e['tables']} tables were read from instances computed earlier "
                f"({', '.join(f'`{p}`' for p in e['sources'])}) instead, after the model agreed with each on "
                f"{'/'.join(map(str, e['checked_sets']))} sets (largest difference {e['max_abs_difference']:.2g})"
            )
        text += (
            ". TRACE ran on an oracle of its own, so its count is the real passes its budget allowed."
            if e.get("trace_on_own_oracle")
            else ". TRACE's search ran after it, so its count is the masked inputs it asked for (served from the "
            "table's cache here, a fresh model call without it)."
        )
    if missing:
        text += (
            "\n\nNot counted (cached records from before the count): "
            + ", ".join(method_label(m) for m in missing)
            + "."
        )
    return text + (
        "\n\nA baseline's count is the batch rows its full-model forward calls saw (gradient methods also "
        "run one backward pass per row, not counted)."
    )


def _headline_text(summary: dict, search: str = "SA") -> list:
    """The headline lines; ``search`` names the TRACE search (SA, or the solver the evaluation ran)."""
    out = [_headline_of_output(summary, o, h) for o, h in summary["headline"].items()]
    for o, c in (summary.get("complete") or {}).items():
        out += _complete_search_lines(c, o, summary["n_inputs"], search)
    return out


def _paper_baselines_text(h: dict) -> str:
    """TRACE against the best of the paper's eight baselines that ran, in one sentence."""
    if not h.get("best_paper_baseline"):
        return "None of the paper's eight baselines ran here (not requested, or not applicable to this model). "
    run = h.get("paper_baselines_run", [])
    missing = [m for m in PAPER_BASELINES if m not in run]
    verdict = "beats" if h["trace_le_mo"] > h["best_paper_baseline_le_mo"] else "does NOT beat"
    not_run = (
        "; not run here (not requested, or not applicable to this model): "
        + ", ".join(method_label(m) for m in missing)
        if missing
        else ""
    )
    return (
        f"{method_label(h['trace'])} {verdict} the best of **the paper's baselines** ({len(run)} of its 8 ran here"
        + not_run
        + f") on LeRF - MoRF: {_fmt(h['trace_le_mo'])} vs {_fmt(h['best_paper_baseline_le_mo'])} "
        f"({method_label(h['best_paper_baseline'])}), a factor of **{h['paper_factor']:.3f}x** "
        "(the paper saw about 1.8x over IBA on ImageNet, t = 49). "
    )


def _headline_of_output(summary: dict, o: str, h: dict) -> str:
    """The headline line of output ``o``: against the paper's baselines, then against every baseline run."""
    verdict = "beats" if h["beats_best_baseline"] else "does NOT beat"
    baselines = [
        m for m in summary["table"][o] if not m.startswith(("trace-", "exact-")) and m not in ("cs-bound", "random")
    ]
    given_operator = [method_label(m) for m in DELETION_OPERATOR_BASELINES if m in baselines]
    operator_text = (
        f", including those outside the paper's set that are given the deletion operator itself "
        f"({', '.join(given_operator)})"
        if given_operator
        else ""
    )
    paired_text = (
        f"; paired difference {_fmt(h['paired_mean'])} ± {_fmt(h['paired_ci'], 2)} (95 % Student-t, "
        f"n = {summary['n_inputs']})"
        if h.get("paired_ci") is not None
        else ""
    )
    exact_text = f" Exact optimum of (Le-Mo): {_fmt(h['exact_le_mo'])}." if h.get("exact_le_mo") is not None else ""
    bound_text = (
        f" No trajectory can exceed the best baseline by more than {h['max_factor']:.3f}x here (the "
        "per-level complete-search bound of (Le-Mo) over it)."
        if h.get("max_factor")
        else ""
    )
    return (
        f"- **{o}**: "
        + _paper_baselines_text(h)
        + f"Over **all** {len(baselines)} baselines run here{operator_text}, it {verdict} "
        f"the best, {method_label(h['best_baseline'])} {_fmt(h['best_baseline_le_mo'])}: a factor of "
        f"**{h['factor']:.3f}x**. Per input against that one: TRACE ahead on "
        f"{h.get('inputs_trace_ahead', '?')}, tied on {h.get('inputs_tied', '?')}, behind on "
        f"{h.get('inputs_baseline_ahead', '?')} (ties: within float32 resolution, "
        "2 (t + 1) float32 epsilons of max(1, |f(x)|))"
        + paired_text
        + f". Random trajectory: {_fmt(h['random_le_mo'])}."
        + exact_text
        + bound_text
    )


def _complete_search_lines(c: dict, o: str, n_inputs: int, search: str) -> list:
    """The complete-search lines of output ``o``: the paper's Fig. 7(b) ratio, and the search against the exact
    optimum of each objective."""
    out = []
    if c.get("mean_ratio_paper") is not None:
        variant = (
            f"{c['mean_ratio_le_mo_variant']:.4f}."
            if c.get("mean_ratio_le_mo_variant") is not None
            else "- (no TRACE-(Le-Mo) run)."
        )
        out.append(
            f"- **TRACE/CS ({o}, the paper's Fig. 7(b))**: (AUC-Le of SA TRACE-Le - AUC-Mo of SA "
            f"TRACE-Mo) / (CS-Le - CS-Mo) averages {c['mean_ratio_paper']:.4f} over the inputs "
            f"(min {c['min_ratio_paper']:.4f}); mean Avg.IoU of the CS sets (CS-Le's kept sets, "
            f"CS-Mo's deleted sets) {np.mean(c['avg_iou_paper']):.3f}. The Le-Mo variant (Le-Mo of "
            f"the one TRACE-(Le-Mo) trajectory over the same denominator, a stricter quantity: one "
            f"order for both tests) averages " + variant
        )
    lm = c["objectives"].get("le-mo")
    if lm:
        out.append(
            f"- **{search} vs exact optimum ({o}, TRACE-(Le-Mo))**: {search} reached the exact optimum on "
            f"{lm['n_sa_optimal']} of {n_inputs} inputs within float32 resolution (2 (t + 1) "
            "float32 epsilons of max(1, |f(x)|); "
            f"{lm.get('n_sa_optimal_1e9', '?')} within 1e-9 relative, finer than float32 resolves); "
            f"mean score {_fmt(lm['mean_sa_score'], 6)} "
            f"vs optimum {_fmt(lm['mean_optimum'], 6)} (ratio {lm['ratio_sa_to_optimum']:.5f}); mean gap "
            f"{_fmt(lm['mean_gap'])}, max gap {_fmt(lm['max_gap'])}; normalised gap (0 = optimal, 1 = "
            f"random) mean {lm['mean_normalised_gap']:.4f}, max {lm['max_normalised_gap']:.4f}."
        )
    for obj in ("le", "mo"):
        v = c["objectives"].get(obj)
        if v:
            out.append(
                f"  - TRACE-{obj.capitalize()} ({o}): {search} optimal on {v['n_sa_optimal']}/{n_inputs}, "
                f"mean normalised gap {v['mean_normalised_gap']:.4f}."
            )
    return out


def ties_markdown(summary: dict) -> list:
    """Lines on ties: how many inputs have a non-unique exact optimum (or one where every order ties),
    and how often a baseline's order was partly set by the tie rule (equal feature scores)."""
    ties = summary.get("ties")
    if not ties:
        return []
    n = summary["n_inputs"]
    lines = [
        f"One tie rule everywhere: {ties['rule']} (attribution orders: stable ascending sort; the exact DP "
        "and greedy pick, among exactly equal options, the order that rule gives)."
    ]
    for o, objs in ties.get("exact", {}).items():
        parts = []
        for obj, e in objs.items():
            txt = f"TRACE-{OBJECTIVE_TEXT.get(obj, obj)}: unique on {e['n_unique']}/{e['n_inputs']}"
            if e["n_tied"]:
                txt += f", several optimal orders on {e['n_tied']} (up to {e['max_optimal_trajectories']:,})"
            if e["n_all_orders_tie"]:
                txt += f", **every order ties** on {e['n_all_orders_tie']} (a symmetric model or constant D there)"
            parts.append(txt)
        if parts:
            e = next(iter(objs.values()))
            inert = (
                f" {e['n_inputs_with_inert_features']} of the inputs have inert features (up to "
                f"{e['max_inert_features']}: deleting them never changes D, e.g. patches equal to the reference, so "
                "their order among themselves is free and multiplies the optimal orders)."
                if e.get("n_inputs_with_inert_features")
                else ""
            )
            lines.append(
                f"- Exact optimum ({o}; optimal orders counted by DP over the 2^t sets, values equal "
                f"within 1e-9 relative count as ties): " + "; ".join(parts) + "." + inert
            )
    tied = {m: b for m, b in ties.get("baselines", {}).items() if b["n_inputs_with_tied_scores"]}
    if tied:
        lines.append(
            "- Baselines whose scores tie (the index rule set part of their order): "
            + "; ".join(
                f"{method_label(m)} on {b['n_inputs_with_tied_scores']}/{n} inputs (up to {b['max_tied_features']} "
                "equal scores)"
                for m, b in tied.items()
            )
            + "."
        )
    elif ties.get("baselines"):
        lines.append("- No baseline gave two features exactly equal scores on any input.")
    return lines


OBJECTIVE_TEXT = {"le": "Le", "mo": "Mo", "le-mo": "(Le-Mo)"}


def _compact_json(obj):
    """``results.json``'s values: floats to 7 significant digits (``json_values``)."""
    return json_values(obj, float_digits=7)


def write_markdown(out: Path, results: dict, figures: dict) -> Path:
    """``out/report.md`` from the results dict and the figures drawn."""
    s = results["summary"]
    lines = [
        *_overview_lines(results),
        "",
        "## Headline",
        "",
        *_headline_text(s, _search_name(results["config"]["explain"])),
        "",
        *(["## Ties", "", *ties_markdown(s), ""] if s.get("ties") else []),
        "## Deletion AUCs (paper's Table 2 form)",
        "",
        _table_intro(s),
        "Cells: mean ± the 95 % Student-t half-width over the inputs (n = " + str(s["n_inputs"]) + ").",
        "",
        "",
        table2_markdown(s),
        "",
        "## Forward passes per method",
        "",
        passes_markdown(s),
        "",
    ]
    for key, title in FIGURE_TITLES:
        if key in figures:
            lines += [f"## {title}", "", f"![{key}]({figures[key]})", "", *_figure_notes(key, results)]
    if "sanity_note" in results:
        lines += ["## Sanity check", "", results["sanity_note"], ""]
    lines += [
        "## Files",
        "",
        "- `results.json`: configuration, every per-input trajectory and curve, the "
        "tables, the complete-search numbers and the sanity check (compact JSON, floats rounded to 7 "
        "significant digits).",
        "- `cache/`: one JSON per finished input (a rerun of the command skips them).",
        "",
    ]
    return atomic_write_bytes(out / "report.md", "\n".join(lines).encode())


def _search_name(explain: dict) -> str:
    """The TRACE search in the headline: SA, or the solver the evaluation ran."""
    return "SA" if explain["solver"] == "sa" else f"TRACE's `{explain['solver']}` search"


def _trace_text(explain: dict) -> str:
    """The report's line on the TRACE search (the paper's SA at K iterations, or the solver and its options)."""
    k = paper_sa_iterations(explain)
    opts = explain["solver_options"]
    text = (
        "- TRACE: simulated annealing (complete transpositions, "
        f"start: {describe_start(opts.get('init', 'greedy'))}), K = {k} "
        f"iterations, eta = {opts['eta']:.5f} (same total cooling as the paper's K = 10,000, eta = 0.999), "
        "T0 = 2 (logit) or f(x)/10 (prob)"
        if k is not None
        else f"- TRACE: solver `{explain['solver']}` with options {opts}"
    )
    if explain.get("budget"):
        text += f", at most {explain['budget']:,} forward passes per run"
    return (
        text + f"; seed = {explain['seed']} for every input (its searches and random baselines). "
        "T-y = optimised on the logit, T-p = on the probability."
    )


def _overview_lines(results: dict) -> list:
    """The title and the bullet list of what was run: data, inputs, search, baselines, exact optima, time."""
    s, cfg = results["summary"], results["config"]
    ranking = "; ".join(
        f"{method_label(m)} {'|.| ' if v.get('absolute') else ''}{v.get('aggregate')}"
        for m, v in (results["records"][0]["methods"].items() if results.get("records") else [])
        if v.get("kind") == "baseline"
    )
    correct = (
        f" ({results['n_correct']} of {s['n_inputs']} predictions equal the label)."
        if results.get("n_correct") is not None
        else "."
    )
    exact = (
        "computed from all 2^t sets (t <= " + str(cfg["exact_max_t"]) + ")."
        if "complete" in s
        else f"not computed (t = {results['t']} > {cfg['exact_max_t']})."
    )
    return [
        f"# TRACE evaluation: {results['dataset']}",
        "",
        f"Regenerate: `{results['command']}`",
        "",
        f"- Data and model: {results['description']}",
        f"- Inputs: {results['selection'].format(n=s['n_inputs'])}" + correct,
        _trace_text(cfg["explain"]),
        f"- Baselines: {', '.join(results['baselines'])} (Captum {results['versions'].get('captum', '?')}; "
        "ranking rule per method in results.json).",
        "- Ranking rule (how each baseline's map becomes one score per feature, then ascending order, ties: "
        "the lower feature index first): " + ranking + ".",
        "- Exact optimum and complete-search (CS) bounds: " + exact,
        f"- Time: evaluating the inputs took {results['input_seconds']:.0f} s in total "
        f"({results['input_seconds'] / max(1, s['n_inputs']):.1f} s per input, measured when each input was "
        f"computed, on a CPU shared with other jobs); the run that wrote this report took "
        f"{results['seconds']:.0f} s (cached inputs and sanity steps are not recomputed); "
        f"{results['machine']}.",
    ]


def _table_intro(s: dict) -> str:
    """The paragraph above Table 2: how to read it, and the CS bound's row when there is one."""
    text = (
        "Riemann sums of the mean deletion curves over the inputs (t + 1 points each). ↑: larger is better, "
        "↓: smaller is better. First block: the paper's columns (its TRACE-y, TRACE-p and its eight baselines, in "
        "its order; bold = the best of those baselines on LeRF - MoRF); second block: every other method "
        "(bold = the best of all baselines, where it is there). "
    )
    if "complete" not in s:
        return text
    loose = ", ".join(
        f"{_fmt(v['le_mo_loose'])} ({o})"
        for o, v in ((o, s["table"][o]["cs-bound"]) for o in s["table"] if "cs-bound" in s["table"][o])
    )
    return (
        text + "`CS bound`: CS-Le (upper bound of LeRF AUC), CS-Mo (lower bound of MoRF AUC) and the per-level "
        "bound of (Le-Mo) (tighter than CS-Le - CS-Mo, which is "
        + loose
        + "). `Exact-…` columns are the exact optimal trajectories of each objective."
    )


#: the report's figures, in their order, with their section titles
FIGURE_TITLES = (
    ("fig5", "Mean deletion curves (paper Fig. 5)"),
    ("fig6", "TRACE-Le, -Mo, -(Le-Mo) under both tests (paper Fig. 6)"),
    ("fig7", "TRACE vs complete search vs exact optimum (paper Fig. 7)"),
    ("fig3", "Maps of all methods (paper Fig. 3)"),
    ("fig1a", "TRACE heatmaps with alpha in {1, 2, 5} (paper Fig. 1a)"),
    ("fig1b_lerf", "Deletion sequence of TRACE-y (Le-Mo), LeRF (paper Fig. 1b)"),
    ("fig1b_morf", "Deletion sequence of TRACE-y (Le-Mo), MoRF (paper Fig. 1b)"),
    ("fig4", "Sanity check (paper Fig. 4)"),
    ("appB", "One image at several t (paper Appendix B)"),
    ("appI_logit", "Degradation test as in Schulz et al., logit (paper Appendix I)"),
    ("appI_prob", "Degradation test as in Schulz et al., probability (paper Appendix I)"),
)

#: the note under a figure (the degradation figures share one)
FIGURE_NOTES = {
    "fig3": "Baselines show their raw attribution map divided by its largest |value| on that input "
    "(the divisor under each panel), so they share one scale per row, [-1, 1], on a diverging "
    "map centred at zero (white = 0, red > 0, blue < 0); TRACE and exact optima show the "
    "trajectory heatmap ((rank + 1) / t) on one shared [0, 1] scale, upsampled bilinearly from "
    "the patch grid as in the paper (so patch borders are blurred). A colour bar per scale.",
    "fig1a": "Heatmap value ((rank + 1) / t)^alpha of TRACE-y (Le-Mo): larger alpha leaves only the "
    "most important features bright (the paper's Fig. 1a uses alpha in {1, 2, 5}).",
    "appB": "The same input re-explained with 2 x 2, 4 x 4 and 7 x 7 grids (uneven splits where the "
    "size is not a multiple), each by SA on (Le-Mo) of the logit; rank numbers (t = most "
    "important) where t <= 25. Le-Mo values are not comparable across t (t + 1 curve points).",
    "appI": "Schulz et al.'s form of the deletion (degradation) test: per input the curves are "
    "normalised to 1 at the full input and 0 with every feature deleted, then averaged; "
    "one panel per method, ordered by the area between LeRF (solid) and MoRF (dashed), "
    "which is the Le-Mo of Table 2 on normalised curves.",
}


def _figure_notes(key: str, results: dict) -> list:
    """The lines under figure ``key`` (none for most)."""
    if key == "fig7":
        objectives = set(results["config"].get("trace_objectives") or ("le", "mo"))
        return [
            "(b) follows the paper: the ratio (AUC-Le of TRACE-Le - AUC-Mo of TRACE-Mo, two separate SA "
            "trajectories) / (CS-Le - CS-Mo) against the Avg.IoU (eq. 5) of the CS sets: the mean of the "
            "Avg.IoU of CS-Le's kept sets (eq. 4: max f(x_{s_k}) keeps s_k) and of CS-Mo's deleted sets. "
            "(c) is the Le-Mo variant: Le-Mo of the one TRACE-(Le-Mo) trajectory over the same "
            "denominator, against the Avg.IoU of the per-level optimal (Le-Mo) sets; it is lower, since "
            "one order must serve both tests."
            + (
                ""
                if objectives & {"le", "mo"}
                else " This evaluation ran only TRACE-(Le-Mo) (`--trace-objectives le-mo`), so (b) is empty "
                "and (a) shows the LeRF and MoRF curves of TRACE-(Le-Mo) and of the exact (Le-Mo) "
                "optimum against the envelopes."
            ),
            "",
        ]
    if key == "fig4" and "sanity" in results:
        san = results["sanity"]
        return [
            f"Layers randomised with `reset_parameters()` (seeded), top (output) layer first; "
            f"{san['n_inputs']} inputs; TRACE = {method_label(trace_name(san['trace_output'], 'le-mo'))} "
            "re-solved by SA on each randomised model. `Random` uses the same seed on every model, "
            "so it is model-independent by construction (correlation 1: the control that must fail "
            "the check).",
            sanity_markdown(san),
            "",
        ]
    if key == "appB" and not results.get("several_t"):
        return []
    note = FIGURE_NOTES.get("appI" if key.startswith("appI") else key)
    return [note, ""] if note else []


# --------------------------------------------------------------------------- run
def _versions() -> dict:
    v = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import captum

        v["captum"] = captum.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def _deletion_figures(setup: Setup, record: dict, out: Path) -> dict:
    """Fig. 1b from ``trace_opt.explanation.plots.plot_deletion_sequence`` for the first input (images only)."""
    name = trace_name("logit", "le-mo")
    if not setup.image or name not in record["methods"]:
        return {}
    x = setup.inputs[0]
    oracle = evaluation_oracle(setup.model, x, setup.targets[0], setup.features, setup.reference, "logit")
    sigma = np.asarray(record["methods"][name]["trajectory"])
    t = setup.features.t
    ks = np.unique(np.linspace(0, t, 7).round().astype(int))
    ranks = np.empty(t, dtype=np.int64)
    ranks[sigma] = np.arange(t)
    figs = {}
    for direction in ("lerf", "morf"):
        deleted = ranks[None, :] < ks[:, None] if direction == "lerf" else ranks[None, :] >= (t - ks)[:, None]
        imgs = oracle.masked_inputs(deleted).detach().cpu().numpy()
        vals = oracle.evaluate(deleted)
        fname = f"fig1b_{direction}.png"
        plot_deletion_sequence(
            imgs,
            ks,
            values=vals,
            path=out / fname,
            title=f"{direction.upper()} deletion along T-y (Le-Mo), input #0, class {setup.targets[0]} (D = logit)",
        )
        figs[f"fig1b_{direction}"] = fname
    return figs


def _alpha_figure(setup: Setup, records: list, out: Path, n_inputs: int = 3) -> dict:
    """Fig. 1a: heatmaps of TRACE-y (Le-Mo) with alpha in {1, 2, 5} for the first inputs (images only)."""
    name = trace_name("logit", "le-mo")
    recs = [r for r in records[:n_inputs] if name in r["methods"]]
    if not setup.image or not recs:
        return {}
    alphas = (1, 2, 5)
    heat = [
        {
            a: trajectory_to_heatmap(np.asarray(r["methods"][name]["trajectory"]), setup.features, alpha=a)
            for a in alphas
        }
        for r in recs
    ]
    ins = [np.asarray(setup.inputs[r["index"]]) for r in recs]
    rp.plot_alpha_heatmaps(
        ins, heat, out / "fig1a_alpha.png", alphas, titles=[f"#{r['index']} (class {r['target']})" for r in recs]
    )
    return {"fig1a": "fig1a_alpha.png"}


#: Appendix B: grids of patches on one image (rows = cols)
SEVERAL_T_GRIDS = (2, 4, 7)


def _trace_label(cfg: EvaluationConfig) -> str:
    """The TRACE search of a configuration in a few words (figure titles)."""
    k = paper_sa_iterations(cfg.explain)
    what = f"SA, K = {k}" if k is not None else str(cfg.explain.solver)
    return what + (f", {cfg.explain.budget:,} passes" if cfg.explain.budget else "")


def _several_t_figure(setup: Setup, out: Path, cfg: EvaluationConfig) -> dict:
    """Appendix B: the first input explained by TRACE-y (Le-Mo) (the evaluation's TRACE search: SA with
    K = ``sa_iterations`` and its cooling by default) on 2 x 2, 4 x 4 and 7 x 7 grids of patches (images only)."""
    if not setup.image or setup.features.kind != "grid":
        return {}
    x = setup.inputs[0]
    shape = tuple(setup.features.ids.shape[-2:])
    settings = cfg.explain
    entries = []
    for g in (g for g in SEVERAL_T_GRIDS if g <= min(shape)):  # a grid needs a pixel per patch
        feats = grid_features(shape, g)
        oracle = evaluation_oracle(
            setup.model,
            x,
            setup.targets[0],
            feats,
            setup.reference,
            "logit",
            device=settings.device,
            precision=settings.precision,
        )
        res = settings.solver_object().solve(
            TraceProblem(oracle, "le-mo"), budget=settings.budget, seed=settings.seed, curves=False
        )
        entries.append(
            {
                "label": f"{g} x {g}, t = {feats.t}",
                "t": feats.t,
                "trajectory": res.trajectory.tolist(),
                "heatmap": trajectory_to_heatmap(res.trajectory, feats, alpha=1.0),
                "le_mo": float(res.value),
                "ranks": ranks_of(res.trajectory),
                "grid": (g, g),
            }
        )
    rp.plot_several_t(
        x,
        entries,
        out / "appB_several_t.png",
        title=f"TRACE-y (Le-Mo) of input #0 (class {setup.targets[0]}) at several t ({_trace_label(cfg)})",
    )
    return {
        "appB": "appB_several_t.png",
        "appB_runs": [{k: e[k] for k in ("label", "t", "trajectory", "le_mo")} for e in entries],
    }


@dataclass(frozen=True)
class ReportSettings:
    """What the report adds to the evaluation (``EvaluationConfig``, whose ``explain`` is the search).

    sanity_n : inputs in the randomisation sanity check (0 = skip; a black box has none).
    sanity_sa_iterations : SA iterations of the sanity check's searches (None: those of the evaluation).
    several_t : draw Appendix B (three more searches on input 0).
    data_seed / model_seed : a bundled data set's split and its model's weights (``load_setup``; 0 = the shipped
        weights); the search seed is ``EvaluationConfig.explain.seed``.
    cache_dir : the model weights' cache (``trace_opt.models.data``).
    progress : progress bars and log lines on stderr.
    command : the command line recorded in the report (None: one is written for a bundled data set).
    """

    sanity_n: int = 3
    sanity_sa_iterations: int | None = None
    several_t: bool = True
    data_seed: int = 0
    model_seed: int = 0
    cache_dir: object = None
    progress: bool = True
    command: str | None = None

    def __post_init__(self):
        check_positive_int("sanity_n", self.sanity_n, minimum=0)
        check_positive_int("sanity_sa_iterations", self.sanity_sa_iterations, allow_none=True)
        check_positive_int("data_seed", self.data_seed, minimum=0)
        check_positive_int("model_seed", self.model_seed, minimum=0)

    def to_dict(self) -> dict:
        """The settings that shape the report (not where weights are cached, bars, or the command line)."""
        keep = ("sanity_n", "sanity_sa_iterations", "several_t", "data_seed", "model_seed")
        return {k: getattr(self, k) for k in keep}


@stop_on_interrupt()  # Ctrl-C stops the report; finished inputs stay cached in OUT/cache for the rerun
def run_report(
    dataset, n: int | None, out, config: EvaluationConfig | None = None, report: ReportSettings | None = None
) -> dict:
    """Evaluate ``dataset`` end to end and write the report folder ``out``; returns the results dict.

    ``dataset`` is a bundled name (``DATASETS``) or a ``Setup`` of your own model and inputs
    (``make_setup``); ``n`` = number of inputs (the first n; None = all of a Setup's). ``config``: the evaluation
    (default ``EvaluationConfig()``: every baseline that applies, the paper's SA at K = 2000); its ``explain``
    settings are the search of every TRACE run (one seed for every input), its device, precision (of the
    searches; every curve reported is measured in fp32), batch size and threads (torch's thread count is
    restored afterwards). Its outputs are narrowed to those the model offers. ``report``: the sanity check,
    Appendix B, the bundled data set's split and weights (``ReportSettings``).
    """
    config = EvaluationConfig() if config is None else config
    report = ReportSettings() if report is None else report
    with torch_threads(config.explain.threads):
        return _run_report(dataset, n, out, config, report)


def _run_report(dataset, n, out, config: EvaluationConfig, report: ReportSettings) -> dict:
    device = as_device(config.explain.device)  # a device this machine lacks is refused before any work
    out = check_output_dir("out", out)  # checked; created when its first file is written (nothing on a refusal)
    start = time.perf_counter()

    def log(msg):
        if report.progress:
            print(f"[evaluate {getattr(dataset, 'name', dataset)}] {msg}", file=sys.stderr, flush=True)

    setup = _report_setup(dataset, n, report, device)
    log(f"{len(setup.inputs)} inputs, t = {setup.features.t}")
    config = _config_for_model(config, setup.model)
    data_key = f"{setup.name}:{_model_key(setup.model)}"
    records = evaluate_inputs(
        setup.model,
        setup.inputs,
        setup.targets,
        setup.features,
        setup.reference,
        config,
        cache_dir=out / "cache",
        progress=report.progress,
        log=log,
        dataset_key=data_key,
    )
    summary = summarise(records, config.outputs)
    figures, several_t = _figures(setup, records, summary, config, report, out)
    results = _results(setup, n, out, config, report, summary, records, several_t)
    if isinstance(setup.model, torch.nn.Module) and report.sanity_n > 0:
        results["sanity"] = _sanity(setup, config, report, out, log, data_key)
        figures["fig4"] = rp.plot_sanity(results["sanity"], out / "fig4_sanity.png").name
    elif not isinstance(setup.model, torch.nn.Module):
        results["sanity_note"] = (
            "Not applicable: the black-box model has no layers to randomise (only numpy callables are seen)."
        )
    results["figures"] = figures
    results["seconds"] = time.perf_counter() - start
    results["input_seconds"] = float(sum(r.get("seconds", 0.0) for r in records))
    # compact, with floats to 7 significant digits (the torch models compute in float32)
    atomic_write_bytes(out / "results.json", json.dumps(_compact_json(results), separators=(",", ":")).encode() + b"\n")
    write_markdown(out, results, figures)
    log(f"report written to {out / 'report.md'} ({results['seconds']:.0f} s)")
    return results


def _report_setup(dataset, n, report: ReportSettings, device) -> Setup:
    """The ``Setup`` of a bundled name (loaded) or the given one (its first ``n`` inputs), its torch model on
    ``device``."""
    if isinstance(dataset, Setup):
        setup = dataset
        if n is not None:
            k = check_positive_int("n", n)
            setup = replace(
                setup,
                inputs=setup.inputs[:k],
                targets=setup.targets[:k],
                labels=None if setup.labels is None else setup.labels[:k],
            )
    else:
        setup = load_setup(
            dataset, n, data_seed=report.data_seed, model_seed=report.model_seed, cache_dir=report.cache_dir
        )
    if isinstance(setup.model, torch.nn.Module):
        setup = replace(setup, model=setup.model.to(device))
    return setup


def _config_for_model(config: EvaluationConfig, model) -> EvaluationConfig:
    """``config`` with its outputs narrowed to those ``model`` offers (``_model_outputs``)."""
    offered = _model_outputs(model)
    outputs = tuple(o for o in config.outputs if o in offered)
    if not outputs:
        raise ValueError(f"outputs={config.outputs!r}: the model offers {offered!r}")
    return replace(config, outputs=outputs, trace_outputs=tuple(o for o in config.trace_outputs if o in outputs))


def _figures(setup: Setup, records: list, summary: dict, config: EvaluationConfig, report, out: Path):
    """Every figure of the report (file names by key) and Appendix B's runs (an empty dict when not drawn)."""
    figures = {
        "fig5": rp.plot_mean_curves(summary, out / "fig5_mean_curves.png").name,
        "fig6": rp.plot_trace_variants(summary, out / "fig6_trace_variants.png").name,
    }
    if "complete" in summary:
        solver = config.explain.solver
        figures["fig7"] = rp.plot_complete_search(
            summary, out / "fig7_complete_search.png", search="SA" if solver == "sa" else solver
        ).name
    if any("maps" in r for r in records):
        figures["fig3"] = rp.plot_heatmaps(records, out / "fig3_heatmaps.png").name
    figures.update(_deletion_figures(setup, records[0], out))
    figures.update(_alpha_figure(setup, records, out))
    several_t = _several_t_figure(setup, out, config) if report.several_t else {}
    if several_t:
        figures["appB"] = several_t["appB"]
    for o in config.outputs:
        figures[f"appI_{o}"] = rp.plot_degradation(records, out / f"appI_degradation_{o}.png", o).name
    return figures, several_t


def _results(setup: Setup, n, out, config, report: ReportSettings, summary, records, several_t) -> dict:
    """The results dict (``results.json``) before the sanity check, the figures and the timings."""
    name = setup.name
    return {
        "dataset": name,
        "description": setup.description,
        "t": setup.features.t,
        "selection": setup.selection,
        "command": report.command
        or (
            f"python -m trace_opt evaluate --dataset {name} --n {n} --out {out}"
            if name in DATASETS
            else "the Python API (trace_opt.comparison.report.run_report)"
        ),
        "config": config.to_dict(),
        "report": report.to_dict(),
        "versions": _versions(),
        "machine": f"{platform.machine()} CPU ({torch.get_num_threads()} torch thread(s))",
        "torch_threads": torch.get_num_threads(),
        "baselines": [m for m in summary["methods"] if not m.startswith(("trace-", "exact-"))],
        "targets": setup.targets,
        "labels": setup.labels,
        "n_correct": (None if setup.labels is None else int(sum(a == b for a, b in zip(setup.targets, setup.labels)))),
        "summary": summary,
        "several_t": several_t.get("appB_runs"),
        "records": [{k: v for k, v in r.items() if k not in ("maps", "input")} for r in records],
    }


def _sanity(setup: Setup, config: EvaluationConfig, report: ReportSettings, out: Path, log, data_key: str) -> dict:
    """The randomisation sanity check on the first ``report.sanity_n`` inputs, its searches shortened to
    ``report.sanity_sa_iterations`` when given (``with_sa_iterations``)."""
    explain = config.explain
    if report.sanity_sa_iterations:
        explain = with_sa_iterations(explain, report.sanity_sa_iterations)
    s_cfg = EvaluationConfig(methods=config.methods, baseline_options=config.baseline_options, explain=explain)
    k = min(report.sanity_n, len(setup.inputs))
    return sanity_check(
        setup.model,
        setup.inputs[:k],
        setup.targets[:k],
        setup.features,
        setup.reference,
        s_cfg,
        cache_dir=out / "cache",
        progress=report.progress,
        log=log,
        dataset_key=data_key,
    )


def index_markdown(report_dirs) -> str:
    """A Markdown table of the headline numbers of several report folders (reads their results.json)."""
    lines = [
        "| report | t | n | output | TRACE-(Le-Mo) | best baseline | factor | best of the paper's baselines | "
        "paper factor | max possible factor | SA = exact optimum (Le-Mo) |",
        "|---|---:|---:|---|---:|---|---:|---|---:|---:|---|",
    ]
    for d in report_dirs:
        d = Path(d)
        res = json.loads((d / "results.json").read_text())
        s = res["summary"]
        for o, h in s["headline"].items():
            comp = s.get("complete", {}).get(o, {}).get("objectives", {}).get("le-mo")
            exact = f"{comp['n_sa_optimal']}/{s['n_inputs']} inputs" if comp else "- (t > 20)"
            paper = (
                f"{method_label(h['best_paper_baseline'])} {_fmt(h['best_paper_baseline_le_mo'])} | "
                f"{h['paper_factor']:.3f}x"
                if h.get("best_paper_baseline")
                else "none applies | -"
            )
            lines.append(
                f"| [{d.name}]({d.name}/report.md) | {res['t']} | {s['n_inputs']} | {o} | "
                f"{_fmt(h['trace_le_mo'])} | {method_label(h['best_baseline'])} {_fmt(h['best_baseline_le_mo'])} | "
                f"{h['factor']:.3f}x | {paper} | {('%.3fx' % h['max_factor']) if h.get('max_factor') else '-'} | "
                f"{exact} |"
            )
    return "\n".join(lines)


__all__ = [
    "DATASETS",
    "Setup",
    "ReportSettings",
    "load_setup",
    "make_setup",
    "run_report",
    "table2_markdown",
    "sanity_markdown",
    "passes_markdown",
    "index_markdown",
]
