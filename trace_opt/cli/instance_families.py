"""``instances generate`` (a library from a seeded family) and ``instances stats`` (difficulty measures).

The library modules are imported inside the command functions: building the parser (``--help``) must not import
numba or torch (tests/test_cli_help.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from trace_opt.cli._choices import FAMILIES, KINDS, OBJECTIVES


def add_family_subcommands(isub) -> None:
    """``instances generate`` (a library from a family), ``instances stats`` (difficulty measures) and
    ``instances best-known`` (best-known solutions without a table, ``trace_opt.benchmarks.best_known``)."""

    g = isub.add_parser(
        "generate",
        help="build a library from a seeded instance family with a difficulty knob",
        description="Evaluate all 2^t sets of a generated set function (trace_opt/benchmarks/families.py) "
        "into instances with exact optima and difficulty measures. Seeds first-seed, "
        "first-seed+1, ... at each size; existing instances with the same parameters are kept.",
    )
    g.add_argument("--family", default="logic", choices=sorted(FAMILIES))
    g.add_argument("--out", type=Path, required=True, metavar="DIR")
    g.add_argument(
        "--sizes", default="12*4", metavar="SPEC", help="T[*COUNT],...: COUNT seeds at each t (default 12*4; t <= 24)"
    )
    g.add_argument("--first-seed", type=int, default=0, metavar="S")
    g.add_argument(
        "--interaction",
        type=float,
        default=None,
        help="the difficulty knob: logic in [0, 1] (0 = additive; default 0.5), chunks >= 0",
    )
    g.add_argument("--order", type=int, default=None, help="logic: size of the interacting groups (default 3)")
    g.add_argument("--terms", type=int, default=None, help="logic: number of interaction terms (default t)")
    g.add_argument("--kinds", nargs="+", default=None, choices=list(KINDS), help="logic: term kinds (default all)")
    g.add_argument("--saturation", type=float, default=None, help="logic: tanh saturation of the output (default 0)")
    g.add_argument("--width", type=int, default=None, help="chunks: chunk width (default 4)")
    g.set_defaults(func=_cli_generate)
    s = isub.add_parser(
        "stats",
        help="difficulty measures of every instance of a library and a summary",
        description="Additivity (R^2 of the first-order fit of D and of the objective's c), greedy's "
        "normalised gap, the number of optimal trajectories, inert features, the random "
        "mean and the per-level bound's gap (trace_opt/benchmarks/difficulty.py), per instance, with "
        "the summary greedy_optimal_fraction and median_greedy_normalised_gap. Measures "
        "stored in an instance are used; older instances are measured on the fly.",
    )
    s.add_argument("--library", type=Path, required=True, metavar="DIR")
    s.add_argument("--objective", default="le-mo", choices=list(OBJECTIVES))
    s.add_argument("--json", action="store_true", help="print JSON ({'summary': ..., 'instances': [...]})")
    s.add_argument("--recompute", action="store_true", help="recompute the measures even when stored")
    s.set_defaults(func=_cli_stats)


def _family_params(args) -> dict:
    keys = {"logic": ("interaction", "order", "terms", "kinds", "saturation"), "chunks": ("interaction", "width")}
    allowed = keys[args.family]
    given = {
        k: getattr(args, k)
        for k in ("interaction", "order", "terms", "kinds", "saturation", "width")
        if getattr(args, k) is not None
    }
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        raise ValueError(
            f"family {args.family!r} does not take {', '.join('--' + w for w in wrong)}; "
            f"it takes {', '.join('--' + k for k in allowed)}"
        )
    return given


def _cli_generate(args) -> int:
    from trace_opt.benchmarks.families import build_family_library, parse_sizes

    params = _family_params(args)
    start = time.perf_counter()
    paths = []
    for t, count in parse_sizes(args.sizes):
        seeds = range(args.first_seed, args.first_seed + count)
        paths += build_family_library(args.out, args.family, [t], seeds, log=print, **params)
    print(f"{len(paths)} instance(s) in {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _cli_stats(args) -> int:
    from trace_opt.benchmarks.difficulty import library_stats, stats_table
    from trace_opt.benchmarks.instances import load_library

    stats = library_stats(load_library(args.library), args.objective, recompute=args.recompute)
    stats["library"] = str(args.library)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(stats_table(stats), end="")
    return 0
