"""SA per neighbourhood on instance families of known difficulty (the paper's Fig. 2 question, redone).

On which families is the complete-transposition graph the best SA neighbourhood, and on which the
worst? Every family is a library of instances with exact optima, so the normalised gap of every run is
exact. SA (default settings: greedy start, T0 by output, eta 0.999, incremental + cache) runs with each
of the seven neighbourhoods of the paper at several forward-pass budgets and seeds; per family and
budget: mean normalised gap, rank of each neighbourhood, and paired comparisons of `complete` against
every other neighbourhood (unit = instance, gap averaged over seeds, 95 % Student t interval;
trace_opt/core/paired.py). Writes bench/results/sa_neighbourhoods_hard.{md,json,png}.

    python bench/sa_neighbourhoods_hard.py        # from the repository root, after building the libraries:

    python -m trace_opt instances generate --out runs/instances/logic_i0.2 --sizes 14*12 --interaction 0.2 --order 3
    python -m trace_opt instances build --out runs/instances/model_families/xor3_logit_zeros --model logic-digits \\
        --rule xor --regions 3 --grids 2x8*12 --output logit --reference zeros
    python -m trace_opt instances build --out runs/instances/model_families/cnn8_grid_prob_mean --grids 4x4*12 \\
        --output prob --reference mean

(instances/hard ships with the repository.)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _harness import ROOT, parse, parser, read_result, write_result

from trace_opt.benchmarks.difficulty import library_stats
from trace_opt.benchmarks.instances import leaderboard, load_library
from trace_opt.core.io import atomic_savefig
from trace_opt.core.paired import paired_comparisons

NEIGHBOURHOODS = ("complete", "bubble", "star", "vertex-insertion", "block-reverse", "block-insertion", "mix")
FAMILIES = [
    ("logic hard (instances/hard)", "instances/hard"),
    ("logic mild (interaction 0.2)", "runs/instances/logic_i0.2"),
    ("xor3 digits CNN (logit, zeros)", "runs/instances/model_families/xor3_logit_zeros"),
    ("digits CNN (prob, mean)", "runs/instances/model_families/cnn8_grid_prob_mean"),
]
BUDGETS = (300, 1000, 3000, 10000)
SEEDS = (0, 1, 2)


def main(argv=None) -> int:
    ap = parser(__file__, __doc__.split("\n")[0], quick="instances/hard only (it ships), budget 300, seed 0 (seconds)")
    ap.add_argument("--from-json", action="store_true", help="re-render the Markdown and figure from the JSON")
    args = parse(ap, argv)
    if args.from_json:  # re-render md/png from the stored runs
        write(read_result(args.out, args.stem), args, rerender=True)
        return 0
    families, budgets, seeds = FAMILIES, BUDGETS, SEEDS
    if args.quick:
        families, budgets, seeds = FAMILIES[:1], (300,), (0,)
    specs = [(nb, "sa", {"neighbourhood": nb}) for nb in NEIGHBOURHOODS]
    out = {
        "command": args.command,
        "budgets": list(budgets),
        "seeds": list(seeds),
        "neighbourhoods": list(NEIGHBOURHOODS),
        "families": [],
    }
    for label, lib_dir in families:
        lib = load_library(ROOT / lib_dir)
        start = time.perf_counter()
        board = leaderboard(lib, specs, budgets, seeds, "le-mo")
        stats = library_stats(lib, "le-mo")["summary"]
        fam = {
            "family": label,
            "library": lib_dir,
            "n_instances": len(lib),
            "t": sorted({i.t for i in lib}),
            "seconds": round(time.perf_counter() - start, 1),
            "greedy_median_gap": stats["median_greedy_normalised_gap"],
            "greedy_optimal_fraction": stats["greedy_optimal_fraction"],
            "summary": board["summary"],
            "paired": [],
            "runs": board["runs"],
        }
        for budget in budgets:
            fam["paired"] += [r for r in paired_comparisons(board, budget) if r["a"] == "complete"]
        out["families"].append(fam)
        print(f"{label}: {fam['seconds']} s", flush=True)
    write(out, args)
    return 0


def _rank(summary, budget):
    rows = sorted((r for r in summary if r["budget"] == budget), key=lambda r: r["mean_gap"])
    return {r["solver"]: k + 1 for k, r in enumerate(rows)}


def write(out: dict, args, rerender: bool = False) -> None:
    lines = [
        "# SA per neighbourhood on families of known difficulty (the paper's Fig. 2 question)",
        "",
        f"- regenerate: `{out['command']}` (libraries: see the script's docstring)",
        f"- SA with default settings (greedy start on the objective, T0 by output, eta 0.999), objective le-mo, "
        f"budgets {', '.join(map(str, out['budgets']))} forward passes, seeds {', '.join(map(str, out['seeds']))}",
        "- gap = normalised gap (optimum - score) / (optimum - random mean), exact; rank 1 = smallest mean gap of "
        "the seven; paired: complete - other per instance (gap averaged over seeds), 95 % t interval, "
        "negative = complete better; 'sep.' = the interval excludes 0",
        "",
    ]
    verdict = []
    for fam in out["families"]:
        lines.append(
            f"## {fam['family']}: {fam['n_instances']} instances, t = {', '.join(map(str, fam['t']))}; "
            f"greedy median gap {fam['greedy_median_gap']:.4f}, greedy optimal on "
            f"{100 * fam['greedy_optimal_fraction']:.0f} %"
        )
        lines.append("")
        head = "| neighbourhood | " + " | ".join(f"gap @{b} (rank)" for b in out["budgets"]) + " |"
        lines += [head, "|---|" + "---:|" * len(out["budgets"])]
        ranks = {b: _rank(fam["summary"], b) for b in out["budgets"]}
        for nb in out["neighbourhoods"]:
            cells = []
            for b in out["budgets"]:
                r = next(x for x in fam["summary"] if x["solver"] == nb and x["budget"] == b)
                cells.append(f"{r['mean_gap']:.4f} ± {r['sem_gap']:.4f} ({ranks[b][nb]})")
            lines.append(f"| {nb} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| complete vs | " + " | ".join(f"@{b}: diff [95 % CI] sep." for b in out["budgets"]) + " |",
            "|---|" + "---|" * len(out["budgets"]),
        ]
        for nb in out["neighbourhoods"][1:]:
            cells = []
            for b in out["budgets"]:
                p = next(x for x in fam["paired"] if x["b"] == nb and x["budget"] == b)
                cells.append(
                    f"{p['mean_diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}] "
                    f"{'yes' if p['separated'] else 'no'}"
                )
            lines.append(f"| {nb} | " + " | ".join(cells) + " |")
        lines.append("")
        parts = []
        for b in out["budgets"]:
            pc = [x for x in fam["paired"] if x["budget"] == b]
            parts.append(
                f"@{b}: rank {ranks[b]['complete']}, "
                f"better than {sum(x['separated'] and x['mean_diff'] < 0 for x in pc)}"
                f" / worse than {sum(x['separated'] and x['mean_diff'] > 0 for x in pc)}"
            )
        best = {b: min(ranks[b], key=ranks[b].get) for b in out["budgets"]}
        verdict.append(
            f"- {fam['family']}: complete "
            + "; ".join(parts)
            + " (separated, of 6); best: "
            + ", ".join(f"{best[b]} @{b}" for b in out["budgets"])
        )
    lines[6:6] = (
        ["## Verdict (complete-transposition graph)", ""]
        + verdict
        + [
            "",
            "The complete graph is the best neighbourhood on no family at any budget: on the hard families (logic "
            "hard, xor3) it is among the worst up to 1,000 passes and mid-field after; "
            "star is the worst at almost every budget. "
            "Per forward pass the cheap moves win early: an adjacent swap (bubble) changes one prefix set (2 passes "
            "under le-mo), a transposition of positions a < b changes b - a of them, so bubble makes many more SA "
            "steps per pass; it then stalls (its 10,000 iterations are spent: same gap at 3,000 and 10,000 passes) "
            "while the insertion and block moves keep improving and lead at 10,000. "
            "At the 10,000-pass budget most runs "
            "end at SA's default K = 10,000 iterations rather than at the budget (complete used 4,100-9,700 passes on "
            "average, bubble 530-1,900; the json has mean_forward_passes), so that column compares equal iterations. "
            "So the paper's Fig. 2 ordering "
            "(complete best) holds on none of these families when cost is counted in forward passes.",
            "",
        ]
    )
    slim = dict(out, families=[{k: v for k, v in f.items() if k != "runs"} for f in out["families"]])  # no per-run rows
    write_result(args.out, args.stem, slim, "\n".join(lines), args=args, rerender=rerender)
    plot(out, Path(args.out) / f"{args.stem}.png")


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = out["families"]
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 4.2), sharey=False)
    for ax, fam in zip(np.atleast_1d(axes), fams):
        for nb in out["neighbourhoods"]:
            rows = [r for r in fam["summary"] if r["solver"] == nb]
            ax.errorbar(
                [r["budget"] for r in rows],
                [r["mean_gap"] for r in rows],
                yerr=[r["sem_gap"] for r in rows],
                marker="o",
                ms=3,
                capsize=2,
                label=nb,
                lw=2.2 if nb == "complete" else 1.0,
                color="k" if nb == "complete" else None,
            )
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{fam['family']}\n{fam['n_instances']} inst., t={','.join(map(str, fam['t']))}", fontsize=9)
        ax.set_xlabel("budget (forward passes)")
        ax.grid(True, alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("mean normalised gap (le-mo)")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
