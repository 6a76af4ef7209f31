"""Tests outside the metric TRACE optimises, on the bundled digits8 CNN (t = 16 patches of 2 x 2 pixels,
zero reference): does TRACE's order still beat the attribution methods when the test is not the
deletion curve it maximised?

Per input (``faithfulness_input``; resumable, one JSON per input under ``out/cache``):

- methods: attribution baselines (Captum and the paper's), a seeded Random, TRACE-p (Le-Mo) and
  TRACE-y (Le-Mo) by SA (K = ``sa_iterations``, the evaluation's cooling), and the exact optimum of
  (Le-Mo) on the probability (all 2^16 sets). Forward passes per method are counted (SA on a fresh
  oracle, before the table; the table itself costs 2^t passes).
- scores per feature: a baseline's (its ranking rule); a trajectory's marginal contributions along its
  LeRF chain (``proportionality.marginal_scores`` on the probability; they sum to D({}) - D(all)).
- metrics: ``le_mo_p`` (the optimised metric, for reference), TPN / TPS (``proportionality``, on the
  probability; lower = better), Quantus' ROAD, Faithfulness Correlation and Monotonicity Correlation
  (``road``).

``summarise_faithfulness`` gives per metric and method the mean with a 95 % Student-t half-width and,
paired per input, TRACE-p minus each baseline with its interval and win / loss counts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from trace_opt.attribution.evaluation import ci_half_width, count_forward_rows, float32_tolerance, method_label, paired
from trace_opt.core.io import atomic_write_json, check_output_dir

#: baselines run (all that apply to the digits CNN and take under a second per input)
METHODS = (
    "saliency",
    "input-x-gradient",
    "integrated-gradients",
    "smoothgrad",
    "deeplift",
    "guided-backprop",
    "grad-cam",
    "occlusion",
    "feature-ablation",
    "shapley-sampling",
    "kernel-shap",
    "lime",
    "rise",
    "iba",
    "random",
)
TRACES = ("trace-p-le-mo", "trace-y-le-mo", "exact-p-le-mo")
#: metric -> (label, larger is better)
METRIC_INFO = {
    "le_mo_p": ("LeRF - MoRF AUC (prob; what TRACE-p optimises)", True),
    "tpn": ("TPN (proportionality for necessity)", False),
    "tps": ("TPS (proportionality for sufficiency)", False),
    "road": ("ROAD (Quantus; mean MoRF accuracy, noisy linear imputation)", False),
    "faithfulness_correlation": ("Faithfulness Correlation (Quantus)", True),
    "monotonicity_correlation": ("Monotonicity Correlation (Quantus)", True),
}


def _setup(seed: int = 0):
    from trace_opt.core.features import grid_features
    from trace_opt.models.data import digits_cnn, load_digits_split

    model = digits_cnn(8, model_seed=seed).eval()
    _, X, _, y = load_digits_split(8, data_seed=seed)
    with torch.inference_mode():
        pred = model(X).argmax(dim=1)
    return model, X, y, pred, grid_features((8, 8), 4)


def faithfulness_input(
    model,
    x,
    target: int,
    features,
    index: int,
    *,
    sa_iterations: int = 2000,
    methods=METHODS,
    metrics=None,
    seed: int = 0,
) -> dict:
    """Every method and metric on one input (see the module docstring); a JSON-able record."""
    from solvers import get_solver
    from solvers.complete import complete_table, exact_optimum
    from trace_opt.attribution.baselines import attribute, make_input
    from trace_opt.attribution.evaluation import EvaluationConfig, evaluation_oracle
    from trace_opt.attribution.proportionality import marginal_scores, proportionality
    from trace_opt.attribution.road import make_metrics, paint, quantus_metrics
    from trace_opt.core.problem import TraceProblem

    s = int(seed) + int(index)
    metrics = metrics if metrics is not None else make_metrics(seed=s)
    cfg = EvaluationConfig(sa_iterations=sa_iterations)
    rec: dict = {"index": int(index), "target": int(target), "seed": s, "methods": {}}
    inp = make_input(model, x, target, features, "zeros", seed=s)
    for name in methods:
        start = time.perf_counter()
        with count_forward_rows(model) as rows:
            att = attribute(name, model, x, target, features, inp=inp)
        rec["methods"][name] = {
            "kind": "baseline",
            "scores": att.scores.tolist(),
            "trajectory": att.trajectory.tolist(),
            "forward_passes": rows.count,
            "seconds": time.perf_counter() - start,
        }
    for out, tag in (("prob", "p"), ("logit", "y")):
        oracle = evaluation_oracle(model, x, target, features, "zeros", out)
        start = time.perf_counter()
        res = get_solver("sa", **cfg.sa_options()).solve(TraceProblem(oracle, "le-mo"), seed=s, curves=False)
        rec["methods"][f"trace-{tag}-le-mo"] = {
            "kind": "trace",
            "trajectory": res.trajectory.tolist(),
            "forward_passes": int(res.forward_passes),
            "seconds": time.perf_counter() - start,
        }
    prob = evaluation_oracle(model, x, target, features, "zeros", "prob")
    start = time.perf_counter()
    table = complete_table(TraceProblem(prob, "le"))
    sigma, _ = exact_optimum(table, "le-mo")
    rec["methods"]["exact-p-le-mo"] = {
        "kind": "exact",
        "trajectory": np.asarray(sigma).tolist(),
        "forward_passes": 1 << features.t,
        "seconds": time.perf_counter() - start,
    }
    rec["f_x"] = float(table[0])
    problem = TraceProblem(prob, "le-mo")
    for name, m in rec["methods"].items():
        sig = np.asarray(m["trajectory"])
        if m["kind"] != "baseline":
            m["scores"] = marginal_scores(sig, table, "lerf").tolist()
        c = problem.curves(sig)
        met = {"le_mo_p": float(c.lerf_deletion.sum() - c.morf_deletion.sum())}
        pr = proportionality(m["scores"], table)
        met.update({"tpn": pr["tpn"], "tps": pr["tps"], "m_positive": pr["m"]})
        met.update(quantus_metrics(model, x, target, paint(m["scores"], features, tuple(x.shape)), metrics, seed=s))
        m["metrics"] = met
    return rec


def run_faithfulness(n: int, out, *, sa_iterations: int = 2000, seed: int = 0, progress: bool = True) -> list:
    """``faithfulness_input`` on the first ``n`` digits8 test inputs (target = predicted class); cached per
    input under ``out/cache`` (a rerun skips finished inputs)."""
    out = check_output_dir("out", out, create=True)
    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    torch.set_num_threads(1)
    model, X, y, pred, feats = _setup(seed)
    key = json.dumps({"n_methods": list(METHODS), "sa": sa_iterations, "seed": seed, "version": 1})
    records = []
    for i in range(min(int(n), len(X))):
        path = cache / f"input_{i:04d}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            if rec.get("key") == key:
                records.append(rec)
                continue
        start = time.perf_counter()
        rec = faithfulness_input(model, X[i], int(pred[i]), feats, i, sa_iterations=sa_iterations, seed=seed)
        rec["key"], rec["seconds"] = key, time.perf_counter() - start
        atomic_write_json(path, rec)
        records.append(rec)
        if progress:
            print(f"[faithfulness] input {i}: {rec['seconds']:.1f} s", file=sys.stderr, flush=True)
    return records


def summarise_faithfulness(records: list, trace: str = "trace-p-le-mo") -> dict:
    """Per metric: ``table[metric][method]`` (mean, ci, n of finite values) and ``paired[metric][baseline]``
    (``trace`` minus the baseline, oriented so that positive favours TRACE); ``passes[method]``."""
    names = list(records[0]["methods"])
    table, pairs = {}, {}
    for met, (_, larger) in METRIC_INFO.items():
        table[met], pairs[met] = {}, {}
        vals = {m: np.array([r["methods"][m]["metrics"][met] for r in records], dtype=np.float64) for m in names}
        for m, v in vals.items():
            f = v[np.isfinite(v)]
            table[met][m] = {
                "mean": float(f.mean()) if f.size else float("nan"),
                "ci": ci_half_width(f),
                "n": int(f.size),
            }
        tol = float32_tolerance(16, 1.0) if met in ("le_mo_p", "tpn", "tps") else 0.0
        for m in names:
            if m != trace:
                pairs[met][m] = paired(vals[trace], vals[m], larger, tol)
    passes = {m: float(np.mean([r["methods"][m]["forward_passes"] for r in records])) for m in names}
    seconds = {m: float(np.mean([r["methods"][m]["seconds"] for r in records])) for m in names}
    return {
        "n_inputs": len(records),
        "methods": names,
        "trace": trace,
        "table": table,
        "paired": pairs,
        "passes": passes,
        "seconds": seconds,
    }


def _f(v, d=3):
    return "-" if v is None or not np.isfinite(v) else f"{v:.{d}f}"


def faithfulness_markdown(summary: dict) -> str:
    """The per-metric tables and the paired verdicts."""
    tr = summary["trace"]
    lines = [
        f"n = {summary['n_inputs']} inputs. Cells: mean ± 95 % Student-t half-width over the inputs "
        "(TPN / TPS: over the inputs where the method gave at least one positive score).",
        "",
    ]
    for met, (label, larger) in METRIC_INFO.items():
        tab, pr = summary["table"][met], summary["paired"][met]
        base = {
            m: v["mean"]
            for m, v in tab.items()
            if m in pr and not m.startswith(("trace-", "exact-")) and m != "random" and np.isfinite(v["mean"])
        }
        best = (max if larger else min)(base, key=base.get) if base else None
        beaten = [m for m, p in pr.items() if m in base and p["separated"] and p["mean"] > 0]
        behind = [m for m, p in pr.items() if m in base and p["separated"] and p["mean"] < 0]
        lines += [f"### {label} ({'higher' if larger else 'lower'} = better)", ""]
        if best:
            p = pr[best]
            lines.append(
                f"**Verdict**: {method_label(tr)} vs the best baseline on this metric, {method_label(best)}: "
                f"paired difference (positive favours TRACE) {_f(p['mean'], 4)} ± {_f(p['ci'], 4)} over "
                f"{p['n']} inputs, TRACE better on {p['wins']}, worse on {p['losses']}, tied on {p['ties']} -> "
                + (
                    "**TRACE ahead**"
                    if p["separated"] and p["mean"] > 0
                    else "**TRACE behind**"
                    if p["separated"] and p["mean"] < 0
                    else "**no separated difference**"
                )
                + f". Separated ahead of {len(beaten)} of {len(base)} baselines, behind {len(behind)}"
                + (f" ({', '.join(method_label(m) for m in behind)})" if behind else "")
                + "."
            )
            lines.append("")
        lines += [
            "| method | mean | paired TRACE-p - method (positive favours TRACE) | TRACE better / worse / tied |",
            "|---|---:|---:|---|",
        ]
        for m, v in sorted(tab.items(), key=lambda kv: -kv[1]["mean"] if larger else kv[1]["mean"]):
            p = pr.get(m)
            cell = f"{_f(p['mean'], 4)} ± {_f(p['ci'], 4)}" if p else "(TRACE-p itself)"
            wl = f"{p['wins']} / {p['losses']} / {p['ties']}" if p else ""
            lines.append(f"| {method_label(m)} | {_f(v['mean'])} ± {_f(v['ci'])} (n = {v['n']}) | {cell} | {wl} |")
        lines.append("")
    lines += [
        "### Forward passes per input (model evaluations; the metrics' own passes not included)",
        "",
        "| method | forward passes | seconds |",
        "|---|---:|---:|",
    ]
    for m in summary["methods"]:
        lines.append(f"| {method_label(m)} | {summary['passes'][m]:,.0f} | {summary['seconds'][m]:.3f} |")
    return "\n".join(lines)


__all__ = [
    "METHODS",
    "METRIC_INFO",
    "faithfulness_input",
    "run_faithfulness",
    "paired",
    "summarise_faithfulness",
    "faithfulness_markdown",
]


def _load_cached(directory: Path, pattern: str) -> list:
    return [json.loads(p.read_text()) for p in sorted(directory.glob(pattern))]


def _is_baseline(m: str) -> bool:
    return not m.startswith(("trace-", "exact-")) and m not in ("random", "none")


def answer(label: str, means: dict, pairs: dict, larger: bool, trace: str) -> str:
    """One plain sentence: ``trace`` against the best baseline on this test (by mean) and how many baselines
    it is separated ahead of / behind (95 % paired intervals excluding 0); ``pairs[m]`` from ``paired``
    (positive favours ``trace``)."""
    base = {m: v for m, v in means.items() if _is_baseline(m) and m in pairs and np.isfinite(v)}
    if not base:
        return f"- **{label}**: no baseline to compare."
    best = (max if larger else min)(base, key=base.get)
    p = pairs[best]
    ahead = [m for m in base if pairs[m]["separated"] and pairs[m]["mean"] > 0]
    behind = [m for m in base if pairs[m]["separated"] and pairs[m]["mean"] < 0]
    verdict = (
        "ahead of"
        if p["separated"] and p["mean"] > 0
        else "behind"
        if p["separated"] and p["mean"] < 0
        else "not separated from"
    )
    tv = means.get(trace, float("nan"))
    return (
        f"- **{label}**: {method_label(trace)} ({_f(tv)}) is **{verdict}** the best baseline, {method_label(best)} "
        f"({_f(base[best])}): paired difference {_f(p['mean'], 3)} ± {_f(p['ci'], 3)} "
        f"(positive favours TRACE, n = {p['n']}; "
        f"TRACE better on {p['wins']}, worse on {p['losses']}, tied on {p['ties']}). "
        f"Separated ahead of {len(ahead)} of {len(base)} baselines, behind {len(behind)}"
        + (f" ({', '.join(method_label(m) for m in behind)})" if behind else "")
        + "."
    )


def write_faithfulness_report(out, command: str = "") -> Path:
    """``out/report.md`` from whatever the runs under ``out`` have finished: ``digits8/cache`` (per-input
    metrics), ``model_tests``, ``roar`` and ``bam``; parts not run are said to be missing. Opens with a
    plain answer per test and the n and compute of each part."""
    from trace_opt.attribution.model_tests import model_tests_markdown, summarise_model_tests
    from trace_opt.attribution.roar import roar_markdown, roar_paired
    from trace_opt.core.io import atomic_write_bytes

    out = Path(out)
    answers, costs, body = [], [], []
    recs = _load_cached(out / "digits8" / "cache", "input_*.json")
    body += [
        "## 1. Per-input metrics: the optimised one, TPN / TPS, Quantus (ROAD, Faithfulness and Monotonicity "
        "Correlation)",
        "",
    ]
    if recs:
        s = summarise_faithfulness(recs)
        atomic_write_json(out / "digits8" / "summary.json", s)
        body += [faithfulness_markdown(s), ""]
        for met, (label, larger) in METRIC_INFO.items():
            means = {m: v["mean"] for m, v in s["table"][met].items()}
            answers.append(answer(f"Part 1, {label}", means, s["paired"][met], larger, s["trace"]))
        sec = sum(r.get("seconds", 0.0) for r in recs)
        costs.append(
            f"- Part 1: n = {len(recs)} digits8 test inputs, {sec / 60:.1f} min (all methods, the complete "
            f"2^16 table per input and the Quantus metrics); forward passes per method in section 1."
        )
    else:
        body += ["Not run.", ""]
    body += ["## 2. Null feature and feature saturation with the model in the loop (seed 003, ch. 7)", ""]
    mt = out / "model_tests"
    samples = {k: _load_cached(mt, f"{k}_*.json") for k in ("null", "saturation")}
    if samples["null"] and samples["saturation"]:
        res = summarise_model_tests(samples)
        atomic_write_json(mt / "model_tests.json", res)
        body += [model_tests_markdown(res), ""]
        tr = "trace-y-le-mo"
        answers.append(
            answer(
                "Part 2, null feature (share on the null patch, signed patch sum, lower = better)",
                {m: v["mean"] for m, v in res["null"]["methods"].items()},
                res["null"]["paired"],
                False,
                tr,
            )
        )
        answers.append(
            answer(
                "Part 2, saturation (imbalance of the credit between the two saturating patches, lower = better)",
                {m: v["imbalance"] for m, v in res["saturation"]["methods"].items()},
                res["saturation"]["paired"],
                False,
                tr,
            )
        )
        sec = sum(r.get("seconds", 0.0) for k in samples for r in samples[k])
        costs.append(
            f"- Part 2: {len(samples['null'])} + {len(samples['saturation'])} generated samples "
            f"({res['null']['n_used']} + {res['saturation']['n_used']} within the constraint tolerance), "
            f"{sec / 60:.1f} min."
        )
    else:
        body += [
            "Not run."
            if not (samples["null"] or samples["saturation"])
            else "(one of the two tests has no samples yet)",
            "",
        ]
    body += ["## 3. ROAR (remove and retrain)", ""]
    variants = (
        ("roar", "3a", "removed patches set to the training mean pixel"),
        ("roar_zeros", "3b", "removed patches set to 0, the background"),
    )
    if not any((out / d / "roar.json").exists() for d, _, _ in variants):
        body += ["Not run (or not finished).", ""]
    for sub, tag, what in variants:
        roar = out / sub / "roar.json"
        if not roar.exists():
            continue
        rr = json.loads(roar.read_text())
        body += [f"### {tag}. {what}", "", roar_markdown(rr), ""]
        pr = roar_paired(rr)
        acc = {}
        for r in rr["runs"]:
            acc.setdefault(r["method"], []).append(r["accuracy"])
        means = {m: float(np.mean(v)) for m, v in acc.items() if m != "none"}
        answers.append(
            answer(
                f"Part {tag}, ROAR, {what} (test accuracy after removing the top patches and retraining, "
                "lower = better)",
                means,
                pr,
                False,
                "trace-y-le-mo",
            )
        )
        if "random" in pr:
            p = pr["random"]
            leak = {r["method"]: r["accuracy"] for r in rr.get("leak", [])}
            answers.append(
                f"- **Part {tag}, ROAR control**: random removal minus TRACE: {_f(p['mean'], 3)} ± {_f(p['ci'], 3)} "
                f"(n = {p['n']}) -> TRACE's removal hurts "
                + (
                    "more than random (separated)"
                    if p["separated"] and p["mean"] > 0
                    else "no more than random, at this n"
                    if not p["separated"]
                    else "less than random"
                )
                + (
                    f"; the removal mask alone gives {leak.get('trace-y-le-mo', float('nan')):.3f} test accuracy for "
                    f"TRACE's orders, {leak.get('random', float('nan')):.3f} for random ones (chance 0.1)"
                    if leak
                    else ""
                )
                + "."
            )
        sec = sum(r.get("seconds", 0.0) for r in rr["runs"] + rr.get("leak", []))
        orders = sum(c.get("seconds_per_image", 0.0) for c in rr["cost"].values()) * (rr["n_train"] + rr["n_test"])
        costs.append(
            f"- Part {tag}: {len(rr['methods'])} methods x {len(rr['fractions'])} fractions x {len(rr['seeds'])} "
            f"retraining seeds (+ {len(rr['seeds'])} without removal, + {len(rr.get('leak', []))} mask-only) = "
            f"{len(rr['runs']) + len(rr.get('leak', []))} retrainings on {rr['n_train']} / {rr['n_test']} images, "
            f"{sec / 60:.1f} min; orders {orders / 60:.1f} min, computed once for both variants "
            f"(TRACE: SA K = {rr['sa_iterations']}, "
            f"{rr['cost'].get('trace-y-le-mo', {}).get('forward_passes_per_image', float('nan')):,.0f} "
            "forward passes per image)."
        )
    body += ["## 4. BAM (seed 004) on digits pasted on textures", ""]
    bam = out / "bam" / "bam.json"
    if bam.exists():
        from trace_opt.attribution.bam import bam_markdown

        br = json.loads(bam.read_text())
        body += [bam_markdown(br), ""]
        for test, label in (
            ("mcs", "Part 4, BAM MCS (higher = better)"),
            ("idr", "Part 4, BAM IDR (higher = better)"),
            ("iir", "Part 4, BAM IIR (higher = better)"),
        ):
            blk = br["tests"].get(test)
            if blk and blk["methods"]:
                answers.append(
                    answer(
                        label, {m: v["mean"] for m, v in blk["methods"].items()}, blk["paired"], True, "trace-y-le-mo"
                    )
                )
        sec = sum(r.get("seconds", 0.0) for r in _load_cached(out / "bam" / "cache", "*.json"))
        costs.append(
            f"- Part 4: n = {br['n']['mcs']} (MCS), {br['n']['idr']} (IDR), {br['n']['iir']} (IIR) test inputs "
            f"(each explained twice), {sec / 60:.1f} min of explanations plus training three small CNNs "
            f"({br['n_train']} images, {br['epochs']} epochs each; TRACE: SA K = {br['sa_iterations']})."
        )
    else:
        body += ["Not run (or not finished).", ""]
    head = (
        [
            "# Faithfulness outside the optimised metric",
            "",
            "Regenerate (resumes from the cached parts): "
            f"`{command or 'python -m trace_opt faithfulness --out ' + str(out)}`",
            "",
            "Does TRACE's order still beat the attribution methods when the test is not the deletion curve it "
            "maximised? Parts 1-3: digits8 CNN (shipped weights), 4 x 4 grid of 2 x 2 patches (t = 16), "
            "zero reference, "
            "target = predicted class. Part 4: BAM on 16 x 16 digits-on-textures images built here (t = 16 patches of "
            "4 x 4). A trajectory's attribution scores, wherever a test needs scores, are its marginal "
            "contributions along its LeRF chain, phi[sigma[k]] = D(P_k) - D(P_{k+1}) (P_k = the k least important "
            "deleted), which sum to D({}) - D(all); every method is scored per patch (one score per feature painted "
            "on its pixels). TPN / TPS follow 'Interpreting Interpretations' Defs. 3-6 (curves = polylines through the "
            "score-share points, so an exactly proportional attribution scores 0; outputs = probabilities).",
            "",
            "## Answers, per test",
            "",
            "Generated from the numbers below: TRACE against the best baseline on each test (95 % paired Student-t "
            "intervals; 'separated' = the interval excludes 0). Part 1 compares TRACE-p (Le-Mo), parts 2-4 TRACE-y "
            "(Le-Mo) (the logit; parts 3-4 with a cheap SA budget).",
            "",
        ]
        + answers
        + [
            "",
            "Reading notes: TPS divides by r' f(x) (r' = the output with only the positively scored patches kept, "
            "over f(x)), which is near 0 on a few inputs, so its means are heavy-tailed; the win / loss counts are the "
            "robust reading. ROAR ranks the removal *masks* as much as the removed content: see the leak check in "
            "section 3 before reading its verdicts. Saturation: a trajectory's marginal scores along one chain give "
            "the whole credit of two saturating patches to the one deleted second (deleting the first changes "
            "nothing), so TRACE is imbalanced by construction, while flat scores (Random) look balanced; read the "
            "imbalance with the null share. BAM's IDR / IIR are indicators per input, so their paired differences "
            "are mostly ties.",
            "",
            "## n and compute per part (2 shared CPU cores, one thread)",
            "",
        ]
        + costs
        + [""]
    )
    return atomic_write_bytes(out / "report.md", "\n".join(head + body).encode())


__all__ += ["write_faithfulness_report", "answer"]
