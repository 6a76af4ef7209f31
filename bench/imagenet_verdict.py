"""The ImageNet comparison's statistics, from the committed report records (no model runs): TRACE against every
baseline on EfficientNet-Lite0 at t = 49 with the paper's blur, per output.

    .venv/bin/python bench/imagenet_verdict.py     # writes bench/results/imagenet_verdict.{json,md}

Unit: the photo (n = 8). Per baseline: the paired difference of Le-Mo (TRACE - baseline) with its Student-t
interval, wins / losses, the exact two-sided sign test and Wilcoxon's signed-rank test, and Holm's adjustment of
the sign tests across the report's baselines (the comparator being chosen after the fact, every comparison
counts). For the best baseline (the largest mean Le-Mo): the ratio of means with a paired BCa bootstrap interval
(9,999 resamples, seed 0) and the median per-photo ratio. Everything from ``trace_opt.core.stats`` (scipy.stats).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _harness import parse, parser, write_result

from trace_opt.core.stats import holm, min_sign_test_n, paired_difference, ratio_of_means

ROOT = Path(__file__).resolve().parents[1]
REPORTS = {"logit": "trace-y-le-mo", "prob": "trace-p-le-mo"}


def le_mo(record: dict, method: str, output: str) -> float:
    curves = record["methods"][method]["curves"][output]
    return float(np.sum(curves["le"]) - np.sum(curves["mo"]))


def verdict(report: str, output: str) -> dict:
    records = json.loads((ROOT / "reports" / report / "results.json").read_text())["records"]
    trace = np.array([le_mo(r, REPORTS[output], output) for r in records])
    names = [m for m, v in records[0]["methods"].items() if v["kind"] == "baseline" and m != "random"]
    rows = []
    for name in names:
        base = np.array([le_mo(r, name, output) for r in records])
        rows.append({"baseline": name, "mean": float(base.mean()), **paired_difference(trace, base)})
    for row, p in zip(rows, holm([r["p_sign"] for r in rows])):
        row["p_sign_holm"] = float(p)
    best = max(rows, key=lambda r: r["mean"])
    base = np.array([le_mo(r, best["baseline"], output) for r in records])
    return {
        "report": report,
        "output": output,
        "n": len(records),
        "trace_mean": float(trace.mean()),
        "best_baseline": best["baseline"],
        "ratio": ratio_of_means(trace, base, n_resamples=9999, seed=0),
        "rows": rows,
    }


def markdown(results: list) -> str:
    lines = ["# TRACE against every baseline on EfficientNet-Lite0 (t = 49, paper blur): the statistics", ""]
    lines.append(
        f"Unit: the photo (n = 8; a two-sided sign test needs n >= {min_sign_test_n()} to reach p < 0.05 at "
        "all). From the committed records of `reports/imagenet-t49-blur` (no model run)."
    )
    for res in results:
        r = res["ratio"]
        lines += [
            "",
            f"## {res['output']}",
            "",
            f"TRACE mean Le-Mo {res['trace_mean']:.2f}; best baseline (chosen after the fact) "
            f"`{res['best_baseline']}`: ratio of means **{r['ratio']:.2f}x**, 95 % paired BCa bootstrap "
            f"[{r['low']:.2f}, {r['high']:.2f}], median per-photo ratio {r['median_per_input']:.2f}.",
            "",
            "| baseline | mean Le-Mo | TRACE - baseline (95 % t) | wins / losses / ties | sign p | Wilcoxon p "
            "| sign p, Holm |",
            "|---|---:|---|---|---:|---:|---:|",
        ]
        for row in sorted(res["rows"], key=lambda x: -x["mean"]):
            lines.append(
                f"| {row['baseline']} | {row['mean']:.2f} | {row['mean_diff']:+.1f} [{row['low']:+.1f}, "
                f"{row['high']:+.1f}] | {row['wins']} / {row['losses']} / {row['ties']} | {row['p_sign']:.4f} | "
                f"{row['p_wilcoxon']:.4f} | {row['p_sign_holm']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse(parser(__file__), argv)
    results = [verdict("imagenet-t49-blur", output) for output in ("logit", "prob")]
    write_result(args.out, args.stem, {"results": results}, markdown(results), args=args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
