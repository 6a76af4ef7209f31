"""The ``instances`` command: build a library of 2^t tables with exact optima, run a leaderboard,
verify files; ``generate``, ``stats`` (``cli.instance_families``) and ``best-known`` (``cli.best_known``).

Settings (DESIGN.md section 9): ``build`` explains a model into tables, so it takes the shared explanation flags
(``add_explain_arguments``) and builds an ``ExplainSettings``; what applies there is ``--reference`` (and its
options), ``--output``, ``--batch-size``, ``--device`` and ``--precision``; each instance's features come from
``--grids``. ``leaderboard`` runs solvers on stored tables: each solve is ``instances.solve_settings`` with a
solver, its options, a budget and a seed from the study's grid (``--solvers``, ``--solver-options`` as JSON by
solver name, ``--budgets``, ``--seeds``). A shared flag that does not apply is refused when given.

The library modules are imported inside the command functions: building the parser (``--help``) must not import
torch (tests/test_cli_help.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from trace_opt.cli._args import (
    add_data_seed_arguments,
    add_explain_arguments,
    add_progress_argument,
    command_line,
    explain_settings,
    int_at_least,
    json_object,
)
from trace_opt.cli._choices import FEATURE_KINDS, MAX_T, MODELS, OBJECTIVES, RULES
from trace_opt.cli._settings_use import refuse_unused_settings
from trace_opt.cli.best_known import add_best_known_parser  # 'instances best-known'
from trace_opt.cli.instance_families import add_family_subcommands  # 'instances generate|stats'

#: the settings ``instances build`` uses (the rest of the shared flags does not apply to a table)
BUILD_SETTINGS = ("reference", "value", "sigma", "noise_std", "output", "batch_size", "device", "precision")
#: defaults of the shared flags where ``instances build`` differs: tables of logits, large model calls
BUILD_DEFAULTS = {"output": "logit", "batch_size": 4096}


def _parse_grids(text: str) -> list:
    """``"4x4*8,4x5*2"`` -> eight 4x4 grids then two 4x5 grids."""
    grids = []
    for part in filter(None, text.split(",")):
        spec, _, count = part.partition("*")
        rows, sep, cols = spec.partition("x")
        try:
            g, n = (int(rows), int(cols) if sep else int(rows)), int(count) if count else 1
        except ValueError:
            raise ValueError(f"--grids: {part!r} is not ROWSxCOLS[*COUNT]") from None
        grids.extend([g] * n)
    return grids


def add_instances_parser(sub) -> None:
    """The ``instances`` subcommand: ``build``, ``leaderboard``, ``verify``, ``generate``, ``stats``, ``best-known``."""
    p = sub.add_parser(
        "instances",
        help="benchmark instances with known optima: build a library, run a leaderboard",
        description="Instances freeze one explanation problem into its 2^t table of D(S) with exact "
        "optima (format: trace_opt/benchmarks/instances.py).",
    )
    isub = p.add_subparsers(dest="instances_command", metavar="ACTION")
    isub.required = True
    _add_build_parser(isub)
    _add_leaderboard_parser(isub)
    v = isub.add_parser("verify", help="recompute every stored optimum by DP and check the files")
    v.add_argument("library", type=Path, metavar="DIR", help="folder of instances")
    v.set_defaults(func=_cli_verify)
    add_family_subcommands(isub)
    add_best_known_parser(isub)


def _add_build_parser(isub) -> None:
    b = isub.add_parser(
        "build",
        help="build a library from a model (default: the digits CNN)",
        description="Evaluate all 2^t sets for test inputs of a model (default: the 8x8 digits CNN; "
        "trace_opt/benchmarks/model_sources.py) into instances with exact optima and difficulty "
        "measures; existing instances of the same model are kept (rerunning resumes). Of the explanation "
        "settings, --reference (and its options), --output, --batch-size, --device and --precision apply.",
    )
    b.add_argument(
        "--out",
        type=Path,
        default=Path("runs/instances/digits8"),
        metavar="DIR",
        help="library folder (created if missing; default: runs/instances/digits8)",
    )
    b.add_argument(
        "--grids",
        default="4x4*8,4x5*2",
        metavar="SPEC",
        help="feature grid per instance, ROWSxCOLS[*COUNT],... (default: 4x4*8,4x5*2: t=16 x8, t=20 x2)",
    )
    b.add_argument("--first", type=int_at_least(0), default=0, metavar="I", help="first test input index (default: 0)")
    b.add_argument(
        "--model",
        default="digits-cnn8",
        choices=list(MODELS),
        help="digits-cnn8|28: the bundled digits CNNs; logic-digits: a CNN trained here (seeded, cached) "
        "on strips of --regions digits labelled by --rule of (digit >= 5), whose features interact "
        "by construction; breast-cancer-mlp: the tabular MLP, grids 1xT = T column groups "
        "(default: digits-cnn8)",
    )
    b.add_argument(
        "--segmentation",
        default="grid",
        choices=list(FEATURE_KINDS),
        help="grid: ROWSxCOLS patches; superpixels: a seeded irregular (Voronoi) segmentation with "
        "ROWS*COLS cells (default: grid)",
    )
    b.add_argument("--rule", default="xor", choices=list(RULES), help="logic-digits: the label rule (default: xor)")
    b.add_argument(
        "--regions",
        type=int_at_least(2),
        default=3,
        help="logic-digits: digits per strip, input 8 x 8*REGIONS (default: 3)",
    )
    add_data_seed_arguments(b, what="the source model")
    b.add_argument(
        "--max-t",
        type=int_at_least(1),
        default=MAX_T,
        help=f"largest t accepted (a table has 2^t values; default: {MAX_T})",
    )
    add_explain_arguments(
        b,
        defaults=BUILD_DEFAULTS,
        features_help="does not apply: each instance's grid comes from --grids (the kind from --segmentation)",
    )
    for action in b._actions:  # the shared --features never applies here: say what to write instead
        if action.dest == "features":
            action.type = _build_features
    b.set_defaults(func=_cli_build)


def _build_features(text: str):
    raise argparse.ArgumentTypeError(
        f"does not apply to instances build (got {text!r}): each instance's grid comes from --grids, e.g. "
        "--grids 4x4*8; the kind of features is --segmentation grid|superpixels (formerly --features)"
    )


def _add_leaderboard_parser(isub) -> None:
    lb = isub.add_parser(
        "leaderboard",
        help="run solvers on a library; mean normalised gap table + plot",
        description="Every solver on every instance for each budget (forward passes) and seed; "
        "writes STEM.json (all runs), STEM.md (table), STEM.png (gap vs budget). Finished "
        "solves are kept in the folder STEM.solves/ as they finish, so a run stopped by "
        "Ctrl-C resumes where it stopped.",
    )
    lb.add_argument("--library", type=Path, required=True, metavar="DIR", help="folder of instances (required)")
    lb.add_argument(
        "--solvers",
        nargs="+",
        default=["greedy", "sa", "tabu", "ga", "window-dp", "beam"],
        metavar="SPEC",
        help='solver names, or JSON objects \'{"name": "sa", "params": {"eta": 0.995}, "label": "sa-slow"}\' '
        "(to run one solver with several options) (default: greedy sa tabu ga window-dp beam)",
    )
    lb.add_argument(
        "--solver-options",
        type=json_object("--solver-options"),
        default=None,
        metavar="JSON",
        help='options by solver name, e.g. \'{"sa": {"K": 100}}\' (default: none)',
    )
    lb.add_argument(
        "--budgets",
        nargs="+",
        type=int_at_least(1),
        default=[250, 1000, 4000],
        metavar="FP",
        help="forward passes per solve (default: 250 1000 4000)",
    )
    lb.add_argument(
        "--seeds",
        nargs="+",
        type=int_at_least(0),
        default=[0, 1],
        metavar="S",
        help="search seeds; each instance is searched with each (default: 0 1)",
    )
    lb.add_argument("--objective", default="le-mo", choices=list(OBJECTIVES), help="(default: le-mo)")
    lb.add_argument(
        "--out",
        type=Path,
        default=Path("runs/leaderboard"),
        metavar="DIR",
        help="output folder (created if missing; default: runs/leaderboard)",
    )
    lb.add_argument("--stem", default="leaderboard", help="file name stem of the outputs (default: leaderboard)")
    add_progress_argument(lb)
    lb.set_defaults(func=_cli_leaderboard)


def _cli_build(args) -> int:
    from trace_opt.benchmarks.instances import build_library
    from trace_opt.core.io import check_output_dir

    refuse_unused_settings(
        args,
        BUILD_SETTINGS,
        "instances build",
        "a table evaluates every set (its grid comes from --grids)",
        BUILD_DEFAULTS,
    )
    settings = explain_settings(args)
    check_output_dir("--out", args.out)
    grids = _parse_grids(args.grids)
    inputs = list(range(args.first, args.first + len(grids)))
    start = time.perf_counter()
    paths = build_library(
        args.out,
        grids=grids,
        inputs=inputs,
        settings=settings,
        model_seed=args.model_seed,
        data_seed=args.data_seed,
        max_t=args.max_t,
        log=print,
        model=args.model,
        features=args.segmentation,
        rule=args.rule,
        regions=args.regions,
    )
    print(f"{len(paths)} instance(s) in {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _cli_leaderboard(args) -> int:
    from tqdm.auto import tqdm

    from trace_opt.benchmarks.instances import (
        check_options_by_solver,
        check_stem,
        leaderboard,
        leaderboard_size,
        leaderboard_table,
        load_library,
        parse_solver_spec,
        write_leaderboard,
    )
    from trace_opt.core.io import check_output_dir

    check_stem(args.stem, "--stem")
    specs = [parse_solver_spec(spec, args.solver_options) for spec in args.solvers]  # the old form refused here
    check_options_by_solver(args.solver_options, [name for _, name, _ in specs])
    check_output_dir("--out", args.out)  # before the board is computed, not after
    lib = load_library(args.library)
    keep = args.out / f"{args.stem}.solves"  # finished solves, kept through Ctrl-C; removed with the board
    bar = tqdm(
        total=leaderboard_size(lib, args.solvers, args.budgets, args.seeds),
        desc="solves",
        unit="solve",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )
    with bar:
        board = leaderboard(
            lib,
            args.solvers,
            args.budgets,
            args.seeds,
            args.objective,
            progress=lambda row: bar.update(1),
            keep=keep,
            solver_options=args.solver_options,
        )
    board["library"] = str(args.library)
    board["command"] = command_line(args)
    paths = write_leaderboard(board, args.out, args.stem)
    shutil.rmtree(keep, ignore_errors=True)  # every solve is in STEM.json now
    print(leaderboard_table(board), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cli_verify(args) -> int:
    from trace_opt.benchmarks.instances import load_library

    lib = load_library(args.library, verify=True)
    for inst in lib:
        print(f"{inst.name}: t={inst.t}, le-mo optimum {inst.optimum('le-mo'):.6g} (verified)")
    return 0
