"""The ``tune`` command: an Optuna study of a solver's hyperparameters on an instance library.

Settings (DESIGN.md section 9): a study searches solver options, so of the explanation settings only the search's
apply, with the shared flags' names and meanings: ``--solver`` (whose options are tuned), ``--budget`` (forward
passes per solve) and ``--objective``; each solve is ``instances.solve_settings`` with them, checked as an
``ExplainSettings`` before any trial. ``--seeds`` is the study's grid of search seeds (every instance is searched
with each seed itself); ``--sampler-seed`` seeds Optuna's sampler, not a search. The rest of the shared flags does
not apply to stored tables and is not offered.

The library modules are imported inside ``_cli_tune``: building the parser (``--help``) must not import torch or
optuna (tests/test_cli_help.py).
"""

from __future__ import annotations

from pathlib import Path

from trace_opt.cli._args import add_progress_argument, command_line, float_above, int_at_least, json_object
from trace_opt.cli._choices import OBJECTIVES, SEARCH_SPACES


def add_tune_parser(sub) -> None:
    """The ``tune`` subcommand."""
    p = sub.add_parser(
        "tune",
        help="tune a solver's hyperparameters with Optuna on an instance library",
        description="Optuna study: mean normalised gap at a fixed forward-pass budget over the "
        "library's tuning instances; writes best_params.json and Optuna's plots, and with "
        "--holdout-every compares default and tuned parameters on held-out instances. "
        "Resumes from the storage (default: OUT/study.db).",
    )
    p.add_argument("--solver", default="sa", help=f"solver to tune, one of {sorted(SEARCH_SPACES)} (default: sa)")
    p.add_argument("--library", type=Path, required=True, metavar="DIR", help="folder of instances (required)")
    p.add_argument(
        "--budget", type=int_at_least(1), default=1000, metavar="FP", help="forward passes per solve (default: 1000)"
    )
    p.add_argument(
        "--trials",
        type=int_at_least(1),
        default=40,
        metavar="N",
        help="finished trials the study should hold (default: 40)",
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int_at_least(0),
        default=[0],
        metavar="S",
        help="search seeds; each instance is searched with each (default: 0)",
    )
    p.add_argument("--objective", default="le-mo", choices=list(OBJECTIVES), help="(default: le-mo)")
    p.add_argument(
        "--holdout-every",
        type=int_at_least(0),
        default=2,
        metavar="K",
        help="every K-th instance (name order) is held out of tuning (default 2; 0 = tune on all)",
    )
    p.add_argument(
        "--space",
        type=json_object("--space"),
        default=None,
        metavar="JSON",
        help='overrides of the search space, e.g. \'{"T0": ["float", 0.1, 5, "log"], "init": "greedy"}\'',
    )
    p.add_argument("--storage", default=None, metavar="URL", help="Optuna storage URL (default sqlite:///OUT/study.db)")
    p.add_argument("--study-name", default=None, help="(default: SOLVER-OBJECTIVE-bBUDGET)")
    p.add_argument(
        "--sampler-seed",
        type=int_at_least(0),
        default=0,
        help="TPE seed; trial n uses a seed derived from (this, n), so one process is reproducible and "
        "several processes sharing --storage propose different points (default 0)",
    )
    p.add_argument(
        "--timeout",
        type=float_above(0),
        default=None,
        metavar="SECONDS",
        help="stop starting trials after this many seconds (default: none)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/tune"),
        metavar="DIR",
        help="output folder (created if missing; default: runs/tune)",
    )
    add_progress_argument(p)
    p.set_defaults(func=_cli_tune)


def _cli_tune(args) -> int:
    import optuna

    from trace_opt.benchmarks.instances import load_library, solve_settings, split_library
    from trace_opt.benchmarks.tuning import compare_on_holdout, holdout_markdown, resolve_space, suggest_fixed, tune
    from trace_opt.core.io import atomic_write_bytes, atomic_write_json, check_output_dir

    check_output_dir("--out", args.out)  # before any trial
    if args.solver not in SEARCH_SPACES:
        raise ValueError(f"--solver {args.solver!r} has no search space; expected one of {sorted(SEARCH_SPACES)}")
    settings = solve_settings(args.objective).replace(solver=args.solver, budget=args.budget)  # checked before work
    # the progress bar says how far the study is; errors propagate anyway, and a trial failed by Ctrl-C
    # needs no traceback in Optuna's log
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    lib = load_library(args.library)
    if args.holdout_every:
        train, held = split_library(lib, args.holdout_every)
    else:
        train, held = lib, []
    if not train:
        raise ValueError("no tuning instance left; lower --holdout-every or add instances")
    space = None
    if args.space:
        space = {k: tuple(v) if isinstance(v, list) else v for k, v in args.space.items()}
    res = tune(
        settings.solver,
        train,
        settings.budget,
        args.trials,
        objective=settings.objective,
        seeds=args.seeds,
        space=space,
        storage=args.storage,
        study_name=args.study_name,
        out_dir=args.out,
        sampler_seed=args.sampler_seed,
        timeout=args.timeout,
        progress=not args.no_progress,
    )
    print(
        f"best mean normalised gap on {len(train)} tuning instance(s): {res.best_value:.5f} "
        f"({res.n_complete} complete, {res.n_pruned} pruned, {res.n_failed} failed trials)"
    )
    print(f"best params: {res.best_params}")
    if held:
        params = suggest_fixed(resolve_space(args.solver, space), res.best_params)
        cmp = compare_on_holdout(args.solver, params, held, args.budget, args.seeds, args.objective)
        cmp["tuning_instances"] = [i.name for i in train]
        cmp["command"] = command_line(args)
        res.files["holdout"] = atomic_write_json(args.out / "holdout.json", cmp)
        summary = {
            "n_complete": res.n_complete,
            "n_pruned": res.n_pruned,
            "n_failed": res.n_failed,
            "best_value": res.best_value,
        }
        res.files["holdout_md"] = atomic_write_bytes(args.out / "holdout.md", holdout_markdown(cmp, summary).encode())
        print(
            f"held-out ({len(held)} instance(s), budget {args.budget}): default mean gap "
            f"{cmp['default']['mean_gap']:.5f}, tuned {cmp['tuned']['mean_gap']:.5f}; paired difference "
            f"{cmp['paired_difference']['mean']:+.5f} (s.e. {cmp['paired_difference']['sem']:.5f}): {cmp['verdict']}"
        )
    print("wrote " + ", ".join(str(p) for p in res.files.values()))
    return 0
