"""``instances best-known``: best-known solutions of problems too large for a table (t = 49)."""

from __future__ import annotations

from pathlib import Path

from trace_opt.cli._choices import FAMILIES, KINDS, OBJECTIVES


def add_best_known_parser(isub) -> None:
    from trace_opt.cli._args import int_at_least

    b = isub.add_parser(
        "best-known",
        help="run a solver on a generated problem (e.g. t = 49) and keep the best trajectory in a best-known file",
        description="Best-known solutions for problems without a table (trace_opt/benchmarks/best_known.py): "
        "the file is replaced atomically, and only when this run beats it.",
    )
    b.add_argument("--file", type=Path, required=True, metavar="F", help="the best-known file (<name>.best.json)")
    b.add_argument("--family", default="logic", choices=sorted(FAMILIES))
    b.add_argument("--t", type=int_at_least(2), default=49)
    b.add_argument("--seed", type=int_at_least(0), default=0, help="the generator's seed (the problem)")
    b.add_argument("--interaction", type=float, default=None)
    b.add_argument("--order", type=int, default=None)
    b.add_argument("--terms", type=int, default=None)
    b.add_argument("--kinds", nargs="+", default=None, choices=list(KINDS))
    b.add_argument("--saturation", type=float, default=None)
    b.add_argument("--width", type=int, default=None)
    b.add_argument("--objective", default="le-mo", choices=list(OBJECTIVES))
    b.add_argument("--solver", default="tabu", metavar="SPEC", help="name or name:key=value,... (default tabu)")
    b.add_argument(
        "--budget", type=int_at_least(1), default=10_000, metavar="FP", help="forward passes (default 10000)"
    )
    b.add_argument("--run-seed", type=int_at_least(0), default=0, metavar="S", help="the solver's seed (default 0)")
    b.add_argument(
        "--certify-window",
        type=int,
        default=None,
        metavar="W",
        help="after an improvement, check window-W local optimality and record it",
    )
    b.set_defaults(func=_cli_best_known)


def _cli_best_known(args) -> int:
    from trace_opt.benchmarks.best_known import problem_spec, update_best_known
    from trace_opt.cli.instance_families import _family_params
    from trace_opt.core.io import check_output_dir

    file = Path(args.file)
    if file.is_dir():
        raise ValueError(f"--file {args.file!r} is a folder; expected a file such as best_known/logic_t49.best.json")
    check_output_dir("--file's folder", file.parent)  # writable (with its lock file), before any solve
    params = _family_params(args)
    spec = problem_spec(args.family, t=args.t, seed=args.seed, **params)
    out = update_best_known(
        args.file,
        spec,
        args.solver,
        args.budget,
        args.run_seed,
        args.objective,
        certify_window=args.certify_window,
        log=print,
    )
    best = out["best"]
    print(f"best known {best['score']:.6g} ({best['solver']}, {best['budget']} passes, seed {best['seed']})")
    return 0
