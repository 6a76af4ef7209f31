"""Where TRACE's margin comes from: exact optimum / best attribution ranking vs how non-additive D is.

For seeded set functions of the ``logic`` family (``trace_opt.benchmarks.families.LogicSetFunction``) at
t = 16, the interaction knob moves D from additive (0) to interactions only (1). Each D is a black-box
model over feature masks; from its complete 2^16 table ``trace_opt.margin.margin`` computes the exact
Shapley, Banzhaf (= first-order fit), occlusion (leave-one-out) and leave-one-in attributions, turns
each into a trajectory (ascending), scores it for le, mo and le-mo, and compares the best of them
with the exact optimum (``solvers.complete.exact_optimum``): ratio = (optimum - random) /
(best - random) (for le-mo random = 0, so this is the paper's plain ratio) and the normalised gap
(optimum - best) / (optimum - random). Greedy (the LeRF construction, a TRACE heuristic, not an
attribution) is reported beside them. The model-based instance libraries of bench/model_families.py
(runs/instances/model_families/, when present) are scored the same way and placed on the same axes.

    python bench/margin.py [--seeds 12] [--t 16]     # from the repository root; about 2 minutes on 2 cores

Writes bench/results/margin.{md,json,png}.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from _harness import ROOT, parse, parser, write_result

from solvers.greedy import greedy_order
from trace_opt.benchmarks.families import LogicSetFunction
from trace_opt.benchmarks.margin import ATTRIBUTIONS, margin
from trace_opt.core.io import atomic_savefig, json_values
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.problem import TraceProblem
from trace_opt.core.table import TableOracle

#: (label, LogicSetFunction options)
VARIANTS = [
    ("mixed o3", {"order": 3}),
    ("mixed o3 sat1", {"order": 3, "saturation": 1.0}),
    ("and o3", {"order": 3, "kinds": ["and"]}),
    ("xor o3", {"order": 3, "kinds": ["xor"]}),
]
INTERACTIONS = [round(0.1 * i, 1) for i in range(11)]
#: the paper's Table 2, Le-Mo on logits: TRACE-y 641.99 / IBA 355.72 (the best attribution baseline)
PAPER_RATIO = 641.99 / 355.72
#: per-instance ratios above this are drawn at it
CAP = 3.5


def _greedy(table: np.ndarray, objective: str) -> np.ndarray:
    t = table.shape[0].bit_length() - 1
    return greedy_order(TraceProblem(TableOracle(table, max_t=t), objective), "lerf")


def score_table(table: np.ndarray) -> dict:
    """``margin`` per objective, with greedy (LeRF construction on that objective) as an extra."""
    out = None
    for objective in OBJECTIVES:
        m = margin(table, objectives=(objective,), extra_trajectories={"greedy": _greedy(table, objective)})
        if out is None:
            out = m
        else:
            out["objectives"].update(m["objectives"])
    return out


def _compact(m: dict) -> dict:
    return {
        "r2": m["r2"],
        "objectives": {
            o: {
                k: v[k]
                for k in (
                    "optimum",
                    "random_mean",
                    "scores",
                    "extra_scores",
                    "best",
                    "best_score",
                    "ratio",
                    "normalised_gap",
                    "r2_objective",
                )
            }
            for o, v in m["objectives"].items()
        },
    }


def summarise(rows: list) -> dict:
    """Aggregates of a group of instances, per objective."""
    out = {"n": len(rows), "r2": float(np.median([r["r2"] for r in rows])), "objectives": {}}
    for obj in OBJECTIVES:
        o = [r["objectives"][obj] for r in rows]
        top = np.array([x["optimum"] - x["random_mean"] for x in o])
        best = np.array([x["best_score"] - x["random_mean"] for x in o])
        ratios = np.array([x["ratio"] for x in o])
        gaps = np.array([x["normalised_gap"] for x in o])
        greedy = np.array(
            [
                (x["optimum"] - x["extra_scores"]["greedy"]) / (x["optimum"] - x["random_mean"])
                if x["optimum"] - x["random_mean"] > 0
                else 0.0
                for x in o
            ]
        )
        wins = {name: int(sum(x["best"] == name for x in o)) for name in ATTRIBUTIONS}
        out["objectives"][obj] = {
            "r2_objective": float(np.median([x["r2_objective"] for x in o])),
            "ratio_of_means": float(top.mean() / best.mean()) if best.mean() > 0 else math.inf,
            "median_ratio": float(np.median(ratios)),
            "min_ratio": float(ratios.min()),
            "max_ratio": float(ratios.max()),
            "mean_gap": float(gaps.mean()),
            "ranking_optimal": float(np.mean(gaps <= 1e-9)),
            "mean_greedy_gap": float(greedy.mean()),
            "wins": wins,
        }
    return out


def _fmt_ratio(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.3f}"


def table_lines(groups: list) -> list:
    head = [
        "| "
        + " | ".join(
            ["set", "interaction", "n", "R2(D)"]
            + [f"{o}: ratio" for o in ("le", "mo")]
            + [
                "le-mo: R2(c)",
                "le-mo: ratio (median [min, max])",
                "le-mo: gap",
                "le-mo: ranking optimal",
                "le-mo: best ranking",
                "le-mo: greedy gap",
            ]
        )
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    lines = list(head)
    for g in groups:
        s = g["summary"]
        o = s["objectives"]
        lm = o["le-mo"]
        wins = ", ".join(f"{k} {v}" for k, v in sorted(lm["wins"].items(), key=lambda kv: -kv[1]) if v)
        cells = [
            g["label"],
            g["knob"],
            str(s["n"]),
            f"{s['r2']:.3f}",
            _fmt_ratio(o["le"]["ratio_of_means"]),
            _fmt_ratio(o["mo"]["ratio_of_means"]),
            f"{lm['r2_objective']:.3f}",
            f"{_fmt_ratio(lm['ratio_of_means'])} ({_fmt_ratio(lm['median_ratio'])} [{_fmt_ratio(lm['min_ratio'])}, "
            f"{_fmt_ratio(lm['max_ratio'])}])",
            f"{lm['mean_gap']:.3f}",
            f"{lm['ranking_optimal']:.2f}",
            wins,
            f"{lm['mean_greedy_gap']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def load_models(lib: Path) -> list:
    from trace_opt.benchmarks.instances import load_library

    groups = []
    if not lib.is_dir():
        return groups
    for folder in sorted(p for p in lib.iterdir() if p.is_dir()):
        instances = load_library(folder)
        if not instances:
            continue
        rows = [_compact(score_table(np.asarray(inst.values, dtype=np.float64))) for inst in instances]
        groups.append(
            {
                "label": folder.name.replace("_", " "),
                "knob": "-",
                "t": instances[0].t,
                "rows": rows,
                "summary": summarise(rows),
            }
        )
        print(f"model {folder.name}: {len(rows)} instances", flush=True)
    return groups


def main(argv=None) -> int:
    ap = parser(
        __file__, __doc__.split("\n")[0], quick="t = 10, 1 seed, interactions 0 / 0.5 / 1, no model libraries (seconds)"
    )
    ap.add_argument("--t", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=12, help="seeds per (variant, interaction) (default 12)")
    ap.add_argument(
        "--models",
        type=Path,
        default=ROOT / "runs/instances/model_families",
        help="model-based instance libraries (bench/model_families.py); skipped when absent",
    )
    args = parse(ap, argv)
    interactions = INTERACTIONS
    if args.quick:
        args.t, args.seeds, args.models, interactions = 10, 1, None, [0.0, 0.5, 1.0]
    start = time.perf_counter()
    groups = []
    for label, opts in VARIANTS:
        for a in interactions:
            rows = []
            for seed in range(args.seeds):
                table = LogicSetFunction(args.t, seed=seed, interaction=a, **opts).table()
                rows.append(_compact(score_table(table)))
            g = {
                "label": label,
                "options": opts,
                "knob": f"{a:.1f}",
                "interaction": a,
                "t": args.t,
                "rows": rows,
                "summary": summarise(rows),
            }
            groups.append(g)
            lm = g["summary"]["objectives"]["le-mo"]
            print(
                f"{label} i={a:.1f}: R2 {g['summary']['r2']:.3f} le-mo ratio {_fmt_ratio(lm['ratio_of_means'])} "
                f"gap {lm['mean_gap']:.3f}",
                flush=True,
            )
    models = load_models(args.models) if args.models is not None else []
    seconds = time.perf_counter() - start
    write(groups, models, args, seconds)
    return 0


def write(groups: list, models: list, args, seconds: float) -> None:
    cmd = args.command
    lines = [
        "# Where TRACE's margin comes from: exact optimum over the best attribution ranking vs interaction",
        "",
        f"- regenerate: `{cmd}` ({seconds:.0f} s here); model rows read the libraries of "
        "`python bench/model_families.py --n 6` (runs/instances/model_families/, not committed)",
        f"- logic family (`trace_opt.benchmarks.families.LogicSetFunction`), t = {args.t}, {args.seeds} seeds per "
        "cell: D = (1 - a) additive part + a random AND/OR/XOR terms over groups of 3 features (t terms), "
        "each part scaled to unit s.d.; `sat1` = tanh-saturated output; a = the interaction knob",
        "- rankings (`trace_opt.benchmarks.margin`): exact Shapley, Banzhaf (equal to the first-order "
        "least-squares fit), "
        "occlusion (leave-one-out) and leave-one-in values from the 2^t table, sorted ascending; the best of the "
        "four per instance and objective is the *best ranking*",
        "- ratio = (exact optimum - random mean) / (best ranking - random mean), as a ratio of means over the "
        "seeds; for le-mo the random mean is exactly 0, so this is the paper's ratio of Le-Mo AUCs (its Table 2, "
        f"logits: TRACE-y / IBA = {PAPER_RATIO:.2f}); gap = mean normalised gap (optimum - best) / (optimum - random) "
        "(0 = a ranking is optimal, 1 = no better than random); ranking optimal = share of instances where the best "
        "ranking reaches the optimum; greedy gap = the same gap for greedy (LeRF construction on the objective, a "
        "TRACE heuristic, not counted as a ranking)",
        "- R2(D) = median additivity R^2 of D (share of variance of the first-order fit), R2(c) the same for the "
        "le-mo objective c(S) = D(S) - D(all \\ S) (even-order interactions cancel in it)",
        "",
    ]
    lines += table_lines(groups)
    if models:
        lines += ["", "## Model-based instances (bench/model_families.py settings, 6 test inputs each)", ""]
        lines += table_lines(models)
    lines += (
        ["", "## Findings", ""]
        + findings(groups, models)
        + ["", "## Is the paper's 1.8x a property of non-additive models?", ""]
        + INTERPRETATION
    )
    lines += ["", f"![ratio and gap vs interaction]({args.stem}.png)"]
    write_result(
        args.out,
        args.stem,
        json_values(
            {
                "command": cmd,
                "t": args.t,
                "seeds": args.seeds,
                "seconds": round(seconds, 1),
                "paper_ratio": PAPER_RATIO,
                "variants": [{"label": lbl, "options": o} for lbl, o in VARIANTS],
                "interactions": sorted({g["interaction"] for g in groups}),
                "groups": groups,
                "models": models,
            },
            float_digits=6,
        ),
        "\n".join(lines),
        args=args,
    )
    plot(groups, models, args.out / f"{args.stem}.png")


#: read from the tables above (written by hand: rerun and re-read when the numbers change)
INTERPRETATION = [
    "- On an additive D (a = 0) every ranking here is exactly optimal for every objective (ratio 1.000, gap 0): "
    "TRACE has no margin to find. The margin over the best exact set-function attribution grows with the "
    "non-additive share of the objective's c(S), and it is the *odd-order* interactions that count for le-mo "
    "(even-order ones cancel in D(S) - D(all \\ S)).",
    "- A le-mo margin of the paper's 1.8x over the best of these rankings needs a D dominated by interactions "
    "that no per-feature score can express: the 3-way parity family only from a = 0.8 (R2(D) 0.06), the mixed "
    "AND/OR/XOR family peaks at ~1.45x, AND-only terms (monotone conjunctions, like an object that needs several "
    "patches together) stay at or below 1.11x even with no additive part, and saturation lowers the margin.",
    "- The model-based instances agree: the bundled digits CNN and breast-cancer MLP (R2(D) 0.24-0.97) stay "
    "at 1.006x-1.022x (le-mo), while CNNs trained on a logic of digits (XOR of 2-3 digits) reach 1.58x-1.83x.",
    "- So against attributions that know the deletion operator (exact Shapley, Banzhaf, occlusion), 1.8x is a "
    "property of strongly non-additive models. The paper's baselines are not computed from D: gradient, IG, "
    "Input x Gradient, Grad-CAM and EBP use gradients or activations, IBA a noise bottleneck, RISE and EP query the "
    "model on their own masks and perturbations, not the metric's patch deletion; so part of its 1.8x can be the "
    "mismatch between the attribution and the deletion metric rather than non-additivity of ResNet-18 "
    "(on our near-additive models the paper's own baseline set "
    "trails TRACE by 1.026x-1.10x on the torch models and 1.12x-1.23x on the black box, reports/README.md). "
    "On a real ImageNet network both do "
    "(bench/results/imagenet_exact_t16.md, EfficientNet-Lite0, 4 photos, t = 16): the exact optimum is 1.23x "
    "(logit) and 1.13x (prob) the best exact Shapley/Banzhaf ranking of the same table (R2(D) 0.62-0.80 on "
    "logits), and the best of the paper's baselines (IG) reaches only 0.70x of that ranking on logits "
    "(reports/README.md). Note also that greedy (a TRACE heuristic, dotted lines) has a smaller "
    "mean gap than the best ranking in most cells (not in all: e.g. le on the saturated family at a >= 0.8, and "
    "le / mo on the digits CNN with probabilities and the mean reference), and that exact Shapley and Banzhaf "
    "values need all 2^t model calls (occlusion and leave-one-in t + 1).",
]


def findings(groups: list, models: list) -> list:
    def cell(label, a):
        return next(g for g in groups if g["label"] == label and g["knob"] == f"{a:.1f}")["summary"]["objectives"]

    out = []
    for label, _ in VARIANTS:
        knobs = sorted({g["interaction"] for g in groups if g["label"] == label})
        r = [cell(label, a)["le-mo"]["ratio_of_means"] for a in knobs]
        first = next((a for a, x in zip(knobs, r) if x >= PAPER_RATIO), None)
        out.append(
            f"- {label}: le-mo ratio {_fmt_ratio(r[0])} at a = 0, "
            f"{_fmt_ratio(cell(label, 0.5)['le-mo']['ratio_of_means'])} at 0.5, "
            f"{_fmt_ratio(r[-1])} at 1; "
            + (
                f"reaches the paper's {PAPER_RATIO:.2f} from a = {first:.1f}"
                if first is not None
                else f"never reaches the paper's {PAPER_RATIO:.2f}"
            )
        )
    if models:
        out.append(
            "- model-based: "
            + "; ".join(
                f"{g['label']} {_fmt_ratio(g['summary']['objectives']['le-mo']['ratio_of_means'])} "
                f"(R2 {g['summary']['r2']:.2f})"
                for g in models
            )
        )
    return out


def plot(groups: list, models: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b"]
    fig, axes = plt.subplots(3, 3, figsize=(14, 12))
    for j, obj in enumerate(OBJECTIVES):
        ax_r, ax_g, ax_s = axes[0, j], axes[1, j], axes[2, j]
        for (label, _), col in zip(VARIANTS, colours):
            cells = [g for g in groups if g["label"] == label]
            xs = [g["interaction"] for g in cells]
            ratio = [g["summary"]["objectives"][obj]["ratio_of_means"] for g in cells]
            gap = [g["summary"]["objectives"][obj]["mean_gap"] for g in cells]
            for k, g in enumerate(cells):
                per = [min(r["objectives"][obj]["ratio"], CAP) for r in g["rows"]]
                ax_r.scatter(
                    np.full(len(per), xs[k]) + (colours.index(col) - 1.5) * 0.012, per, s=5, color=col, alpha=0.25
                )
                ax_s.scatter(
                    [1 - r["objectives"][obj]["r2_objective"] for r in g["rows"]],
                    [min(r["objectives"][obj]["ratio"], CAP) for r in g["rows"]],
                    s=5,
                    color=col,
                    alpha=0.3,
                )
            ax_r.plot(xs, ratio, "-o", ms=3, color=col, label=label)
            ax_g.plot(xs, gap, "-o", ms=3, color=col, label=label)
            greedy = [g["summary"]["objectives"][obj]["mean_greedy_gap"] for g in cells]
            ax_g.plot(xs, greedy, ":", color=col, lw=1)
        markers = "sD^v<>ph*XPo"
        for k, g in enumerate(models):
            ax_s.scatter(
                [1 - r["objectives"][obj]["r2_objective"] for r in g["rows"]],
                [min(r["objectives"][obj]["ratio"], CAP) for r in g["rows"]],
                s=28,
                marker=markers[k % len(markers)],
                facecolor="none",
                edgecolor="k",
                lw=0.8,
                label=g["label"],
            )
        for ax in (ax_r, ax_s):
            ax.axhline(1, color="grey", lw=0.8)
            if obj == "le-mo":
                ax.axhline(PAPER_RATIO, color="#d62728", ls="--", lw=1, label=f"paper, ImageNet ({PAPER_RATIO:.2f}x)")
            ax.set_ylim(0.95, CAP + 0.1)
            ax.grid(True, alpha=0.3)
        ax_r.set_title(f"{obj}: optimum / best ranking")
        ax_r.set_xlabel("interaction knob a")
        ax_r.set_ylabel(f"ratio over random (line: of means; dots: instances, cap {CAP})")
        ax_g.set_title(f"{obj}: gap of the best ranking (dotted: greedy)")
        ax_g.set_xlabel("interaction knob a")
        ax_g.set_ylabel("(optimum - best) / (optimum - random)")
        ax_g.set_ylim(bottom=0)
        ax_g.grid(True, alpha=0.3)
        ax_s.set_title(f"{obj}: per instance vs non-additive share of c")
        ax_s.set_xlabel("1 - R2 of the objective's c(S)")
        ax_s.set_ylabel(f"ratio over random (cap {CAP})")
        ax_s.set_xlim(-0.02, 1.02)
    axes[0, 2].legend(fontsize=8, loc="upper left")
    axes[1, 0].legend(fontsize=8, loc="upper left")
    if models:
        axes[2, 2].legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(
        "Where TRACE's margin comes from: exact optimum vs the best of exact Shapley / Banzhaf / occlusion / "
        "leave-one-in rankings\nlogic set functions, t = 16 (colours); model-based instances (black open markers)"
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    atomic_savefig(fig, path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
