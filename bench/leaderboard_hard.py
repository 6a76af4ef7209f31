"""Paired comparisons with confidence intervals on the hard instance library (instances/hard).

Reads the leaderboard written by

    python -m trace_opt instances leaderboard --library instances/hard \
        --solvers greedy sa tabu ga window-dp beam --budgets 300 1000 3000 --seeds 0 1 \
        --out bench/results --stem leaderboard_hard

and writes bench/results/leaderboard_hard_paired.md (+ .json): every pair of solvers at each
budget, paired per instance (gap averaged over the seeds), 95 % Student-t intervals (trace_opt/core/paired.py).
Run from the repository root: python bench/leaderboard_hard.py [--leaderboard FILE] [--out DIR]
"""

from __future__ import annotations

import json
from pathlib import Path

from _harness import RESULTS, parse, parser, write_result

from trace_opt.core.paired import paired_comparisons, paired_table


def main(argv=None) -> int:
    ap = parser(__file__, __doc__.split("\n")[0], stem="leaderboard_hard_paired")
    ap.add_argument(
        "--leaderboard",
        type=Path,
        default=RESULTS / "leaderboard_hard.json",
        help="the leaderboard JSON to compare (default bench/results/leaderboard_hard.json)",
    )
    args = parse(ap, argv)
    board = json.loads(args.leaderboard.read_text())
    out, rows = [], []
    out.append("# Paired solver comparisons on instances/hard\n")
    out.append(f"- leaderboard: `bench/results/leaderboard_hard.md` (`{board.get('command')}`)")
    out.append(
        "- unit: an instance (normalised gap averaged over its seeds); interval: 95 % Student t over the "
        "instances; 'separated' = the interval excludes 0; negative = A has the smaller gap (better)"
    )
    out.append("- regenerate: `python bench/leaderboard_hard.py` (after the leaderboard command)\n")
    for budget in board["budgets"]:
        r = paired_comparisons(board, budget)
        rows += r
        sep = sum(x["separated"] for x in r)
        out.append(f"## budget {budget} forward passes ({sep} of {len(r)} pairs separated)\n")
        out.append(paired_table(r))
    write_result(
        args.out,
        args.stem,
        {"leaderboard_command": board.get("command"), "comparisons": rows},
        "\n".join(out),
        args=args,
    )
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
