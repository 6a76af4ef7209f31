"""``instances best-known``: best-known solutions of problems too large for a table (t = 49).

Settings (DESIGN.md section 9): the search is an ``ExplainSettings`` built from the shared flags
(``add_explain_arguments``); what applies is ``--solver``, ``--solver-options``, ``--budget``, ``--seed`` (the
search's) and ``--objective``; the generated problem is the oracle, so the other shared flags are refused when
given. The problem's own seed is ``--problem-seed``.

The library modules are imported inside ``_cli_best_known``: building the parser (``--help``) must not import
torch (tests/test_cli_help.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trace_opt.cli._args import add_explain_arguments, explain_settings, int_at_least
from trace_opt.cli._choices import FAMILIES, KINDS
from trace_opt.cli._settings_use import refuse_unused_settings
from trace_opt.cli.instance_families import _family_params

#: the shared flags a best-known run uses
USED_SETTINGS = ("solver", "solver_options", "budget", "seed", "objective")
#: its defaults where they differ from the shared ones
DEFAULTS = {"solver": "tabu", "budget": 10_000}


def _removed_run_seed(text: str):
    raise argparse.ArgumentTypeError(
        "--run-seed is gone: the search's seed is --seed, and the problem's seed (formerly --seed) is --problem-seed"
    )


def add_best_known_parser(isub) -> None:
    b = isub.add_parser(
        "best-known",
        help="run a solver on a generated problem (e.g. t = 49) and keep the best trajectory in a best-known file",
        description="Best-known solutions for problems without a table (trace_opt/benchmarks/best_known.py): "
        "the file is replaced atomically, and only when this run beats it. Of the explanation settings, "
        "--solver, --solver-options, --budget, --seed and --objective apply.",
    )
    b.add_argument("--file", type=Path, required=True, metavar="F", help="the best-known file (<name>.best.json)")
    b.add_argument("--family", default="logic", choices=sorted(FAMILIES))
    b.add_argument("--t", type=int_at_least(2), default=49)
    b.add_argument(
        "--problem-seed", type=int_at_least(0), default=0, metavar="S", help="the generator's seed (the problem)"
    )
    b.add_argument("--run-seed", type=_removed_run_seed, default=None, help=argparse.SUPPRESS)
    b.add_argument("--interaction", type=float, default=None)
    b.add_argument("--order", type=int, default=None)
    b.add_argument("--terms", type=int, default=None)
    b.add_argument("--kinds", nargs="+", default=None, choices=list(KINDS))
    b.add_argument("--saturation", type=float, default=None)
    b.add_argument("--width", type=int, default=None)
    b.add_argument(
        "--certify-window",
        type=int,
        default=None,
        metavar="W",
        help="after an improvement, check window-W local optimality and record it",
    )
    add_explain_arguments(b, defaults=DEFAULTS)
    b.set_defaults(func=_cli_best_known)


def _cli_best_known(args) -> int:
    from trace_opt.benchmarks.best_known import best_known_with_settings, problem_spec
    from trace_opt.core.io import check_output_dir

    if ":" in args.solver:  # the old 'name:key=value' form: say what to write instead
        raise ValueError(
            f"--solver {args.solver!r}: the 'name:key=value' form is gone; give the name and its options as "
            "JSON, e.g. --solver tabu --solver-options '{\"candidates\": 8}'"
        )
    refuse_unused_settings(args, USED_SETTINGS, "instances best-known", "the generated problem is the oracle", DEFAULTS)
    settings = explain_settings(args)
    file = Path(args.file)
    if file.is_dir():
        raise ValueError(f"--file {args.file!r} is a folder; expected a file such as best_known/logic_t49.best.json")
    check_output_dir("--file's folder", file.parent)  # writable (with its lock file), before any solve
    spec = problem_spec(args.family, t=args.t, seed=args.problem_seed, **_family_params(args))
    out = best_known_with_settings(args.file, spec, settings, certify_window=args.certify_window, log=print)
    best = out["best"]
    print(f"best known {best['score']:.6g} ({best['solver']}, {best['budget']} passes, seed {best['seed']})")
    return 0
