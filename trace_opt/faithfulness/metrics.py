"""Tests outside the metric TRACE optimises, on the bundled digits8 CNN (t = 16 patches of 2 x 2 pixels,
zero reference): does TRACE's order still beat the attribution methods when the test is not the
deletion curve it maximised?

Per input (``faithfulness_input``; ``PerInputMetrics`` keeps one record per input in a ``RecordStore`` under
``digits8/cache``, so a rerun resumes; every input with the settings' ``seed``):

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

import sys
import time
from pathlib import Path

import numpy as np
import torch

from solvers.complete import complete_table, exact_optimum
from trace_opt.baselines import attribute, baselines_tagged
from trace_opt.comparison.evaluation import ci_half_width, count_forward_rows, float32_tolerance, method_label, paired
from trace_opt.core.features import grid_features
from trace_opt.core.fingerprint import arrays_digest
from trace_opt.core.io import check_output_dir
from trace_opt.core.problem import TraceProblem
from trace_opt.faithfulness.base import FaithfulnessTest, default_settings, load_records, register_test
from trace_opt.faithfulness.common import (
    answer,
    baseline_input,
    fmt,
    method_seed,
    oracle,
    search,
    trace_method,
)
from trace_opt.faithfulness.proportionality import marginal_scores, proportionality
from trace_opt.faithfulness.road import make_metrics, paint, quantus_metrics
from trace_opt.models.data import digits_cnn, load_digits_split

#: the baselines run (``baselines_tagged``): every method but the paper's, plus the layer methods (Grad-CAM, IBA):
#: all that apply to the digits CNN and take under a second per input
BASELINES = ("!paper", "layer")
#: metric -> (label, larger is better)
METRIC_INFO = {
    "le_mo_p": ("LeRF - MoRF AUC (prob; what TRACE-p optimises)", True),
    "tpn": ("TPN (proportionality for necessity)", False),
    "tps": ("TPS (proportionality for sufficiency)", False),
    "road": ("ROAD (Quantus; mean MoRF accuracy, noisy linear imputation)", False),
    "faithfulness_correlation": ("Faithfulness Correlation (Quantus)", True),
    "monotonicity_correlation": ("Monotonicity Correlation (Quantus)", True),
}


def digits8_setup(data_seed: int = 0, model_seed: int = 0):
    """The digits8 CNN (``model_seed``; 0: the shipped weights), its test split (``data_seed``), the predicted
    classes and the 4 x 4 grid of 2 x 2 patches."""
    model = digits_cnn(8, model_seed=model_seed).eval()
    _, X, _, y = load_digits_split(8, data_seed=data_seed)
    with torch.inference_mode():
        pred = model(X).argmax(dim=1)
    return model, X, y, pred, grid_features((8, 8), 4)


def _baseline_records(model, x, target: int, features, methods, settings) -> dict:
    """Each baseline's scores, trajectory, forward passes and seconds (the random control on its own seed)."""
    out = {}
    inp = baseline_input(settings, model, x, target, features)
    for name in methods:
        seed = method_seed(name, settings.seed, x)
        m_inp = inp if seed == settings.seed else baseline_input(settings, model, x, target, features, seed)
        start = time.perf_counter()
        with count_forward_rows(model) as rows:
            att = attribute(name, model, x, target, features, inp=m_inp)
        out[name] = {
            "kind": "baseline",
            "scores": att.scores.tolist(),
            "trajectory": att.trajectory.tolist(),
            "forward_passes": rows.count,
            "seconds": time.perf_counter() - start,
        }
    return out


def _trace_records(model, x, target: int, features, settings, sa_iterations: int) -> dict:
    """TRACE on the probability and on the logit (forward passes on a fresh oracle)."""
    out = {}
    for output in ("prob", "logit"):
        orc = oracle(settings, model, x, target, features, output)
        start = time.perf_counter()
        res = search(settings, orc, sa_iterations)
        out[trace_method(output, settings)] = {
            "kind": "trace",
            "trajectory": res.trajectory.tolist(),
            "forward_passes": int(res.forward_passes),
            "seconds": time.perf_counter() - start,
        }
    return out


def _exact_record(prob, settings, t: int) -> tuple:
    """The exact optimum on the probability (all 2^t sets) and the complete table."""
    start = time.perf_counter()
    table = complete_table(TraceProblem(prob, "le"))
    sigma, _ = exact_optimum(table, settings.objective)
    rec = {
        "kind": "exact",
        "trajectory": np.asarray(sigma).tolist(),
        "forward_passes": 1 << t,
        "seconds": time.perf_counter() - start,
    }
    return rec, table


def _score(rec: dict, prob, table, model, x, target: int, features, metrics, settings) -> None:
    """Every metric of every method of ``rec`` (a trajectory's scores: its marginal contributions)."""
    problem = TraceProblem(prob, "le-mo")
    for m in rec["methods"].values():
        sig = np.asarray(m["trajectory"])
        if m["kind"] != "baseline":
            m["scores"] = marginal_scores(sig, table, "lerf").tolist()
        c = problem.curves(sig)
        met = {"le_mo_p": float(c.lerf_deletion.sum() - c.morf_deletion.sum())}
        pr = proportionality(m["scores"], table)
        met.update({"tpn": pr["tpn"], "tps": pr["tps"], "m_positive": pr["m"]})
        heat = paint(m["scores"], features, tuple(x.shape))
        met.update(quantus_metrics(model, x, target, heat, metrics, seed=settings.seed))
        m["metrics"] = met


def faithfulness_input(
    model, x, target: int, features, index: int, *, settings=None, sa_iterations: int = 2000, methods=None, metrics=None
) -> dict:
    """Every method and metric on one input (see the module docstring); a JSON-able record. ``settings``:
    the ``ExplainSettings`` (default: the tests' defaults); ``methods``: the baselines (default: ``BASELINES``)."""
    settings = default_settings() if settings is None else settings
    methods = baselines_tagged(*BASELINES, model=model) if methods is None else list(methods)
    metrics = make_metrics(seed=settings.seed) if metrics is None else metrics
    rec: dict = {"index": int(index), "target": int(target), "seed": settings.seed, "methods": {}}
    rec["methods"].update(_baseline_records(model, x, target, features, methods, settings))
    rec["methods"].update(_trace_records(model, x, target, features, settings, sa_iterations))
    prob = oracle(settings, model, x, target, features, "prob")
    exact, table = _exact_record(prob, settings, features.t)
    rec["methods"][f"exact-p-{settings.objective}"] = exact
    rec["f_x"] = float(table[0])
    _score(rec, prob, table, model, x, target, features, metrics, settings)
    return rec


@register_test("metrics")
class PerInputMetrics(FaithfulnessTest):
    """Part 1: ``faithfulness_input`` on the first ``n`` digits8 test inputs (target = the predicted class)."""

    title = "Per-input metrics: the optimised one, TPN / TPS, Quantus (ROAD, Faithfulness and Monotonicity Correlation)"
    folder = "digits8"
    summary_file = "summary.json"
    defaults = {"n": 50, "sa_iterations": 2000, "data_seed": 0, "model_seed": 0}
    baselines = BASELINES

    def run(self, out: Path, progress: bool = True) -> None:
        o = self.options
        cache = check_output_dir("out", Path(out) / self.folder, create=True) / "cache"
        torch.set_num_threads(self.settings.threads or 1)
        model, X, _, pred, feats = digits8_setup(o["data_seed"], o["model_seed"])
        methods = baselines_tagged(*self.baselines, model=model)
        store = self.store(cache, {"methods": methods})
        metrics = make_metrics(seed=self.settings.seed)
        for i in range(min(int(o["n"]), len(X))):
            key = arrays_digest({"x": X[i], "target": pred[i : i + 1]})
            if store.get(f"input_{i:04d}", key) is not None:
                continue
            start = time.perf_counter()
            rec = faithfulness_input(
                model,
                X[i],
                int(pred[i]),
                feats,
                i,
                settings=self.settings,
                sa_iterations=o["sa_iterations"],
                methods=methods,
                metrics=metrics,
            )
            rec["seconds"] = time.perf_counter() - start
            store.put(f"input_{i:04d}", key, rec)
            if progress:
                print(f"[faithfulness] input {i}: {rec['seconds']:.1f} s", file=sys.stderr, flush=True)

    def load(self, out: Path):
        return load_records(Path(out) / self.folder / "cache", "input_*.json") or None

    def summarise(self, records) -> dict:
        return summarise_faithfulness(records, trace_method("prob", self.settings))

    def markdown(self, summary: dict) -> str:
        return faithfulness_markdown(summary)

    def answers(self, summary: dict, records) -> list[str]:
        return [
            answer(
                f"Part 1, {label}",
                {m: v["mean"] for m, v in summary["table"][met].items()},
                summary["paired"][met],
                larger,
                summary["trace"],
            )
            for met, (label, larger) in METRIC_INFO.items()
        ]

    def costs(self, summary: dict, records) -> list[str]:
        sec = sum(r.get("seconds", 0.0) for r in records)
        return [
            f"- Part 1: n = {len(records)} digits8 test inputs, {sec / 60:.1f} min (all methods, the complete "
            f"2^16 table per input and the Quantus metrics); forward passes per method in section 1."
        ]


def run_faithfulness(n: int, out, *, settings=None, sa_iterations: int = 2000, progress: bool = True) -> list:
    """``PerInputMetrics`` on the first ``n`` inputs with its folder ``out`` (records under ``out/cache``, a rerun
    skips finished inputs); returns the records."""
    out = Path(out)
    test = PerInputMetrics(settings, n=n, sa_iterations=sa_iterations)
    test.folder = out.name
    test.run(out.parent, progress=progress)
    return test.load(out.parent) or []


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
                f"paired difference (positive favours TRACE) {fmt(p['mean'], 4)} ± {fmt(p['ci'], 4)} over "
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
            cell = f"{fmt(p['mean'], 4)} ± {fmt(p['ci'], 4)}" if p else "(TRACE-p itself)"
            wl = f"{p['wins']} / {p['losses']} / {p['ties']}" if p else ""
            lines.append(f"| {method_label(m)} | {fmt(v['mean'])} ± {fmt(v['ci'])} (n = {v['n']}) | {cell} | {wl} |")
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
    "BASELINES",
    "METRIC_INFO",
    "PerInputMetrics",
    "digits8_setup",
    "faithfulness_input",
    "run_faithfulness",
    "paired",
    "summarise_faithfulness",
    "faithfulness_markdown",
]
