"""The ``evaluate`` command: TRACE against attribution baselines, written as a report folder.

Its search is an ``ExplainSettings`` built from the shared flags (``trace_opt.cli._args``, the same as ``explain``
and ``explain-dataset``), the paper's SA at ``--sa-iterations`` by default; the study's own flags (methods, outputs,
sanity check, tables, ...) sit beside them.

Imports: the comparison, the baselines, the data, ``trace_opt.core.io`` and numpy are imported inside the functions
that run the command, not here: they load torch (and numpy), and building the parser for ``--help`` must not
(``tests/test_cli_help.py``; ``python -X importtime -m trace_opt evaluate --help``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trace_opt.cli._args import (
    SETTING_FLAGS,
    add_data_seed_arguments,
    add_explain_arguments,
    add_progress_argument,
    command_line,
    explain_settings,
    int_at_least,
)
from trace_opt.cli._choices import DATASETS

#: the shared flags' defaults for this command: the study's batch size (EVALUATION_BATCH_SIZE of
#: trace_opt.comparison.evaluation, repeated here so that --help imports no torch)
EVALUATE_DEFAULTS = {"batch_size": 256}
#: shared flags the study sets itself: --output / --objective (it runs every output and objective), --backend and
#: --heatmap-alpha
NOT_FOR_EVALUATE = {
    "output": (None, "evaluate measures every output (logit and prob) and runs TRACE on each"),
    "objective": ("le-mo", "evaluate runs the objectives of --trace-objectives"),
    "backend": ("torch", "evaluate runs its models in torch"),
    "heatmap_alpha": (1.0, "the report draws its heatmaps at alpha 1 (Fig. 3) and 1, 2, 5 (Fig. 1a)"),
}


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to an argparse subparsers object (used by ``trace_opt.cli``)."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate TRACE against attribution baselines; write a report folder",
        description=__doc__.split("\n\n")[0],
    )
    _add_source_arguments(p)
    add_explain_arguments(
        p,
        defaults=EVALUATE_DEFAULTS,
        features_help="with --model: a G x G (or RxC) grid of patches for images (default 4; 1-D rows: one per "
        "column); a --dataset brings its own",
    )
    _add_study_arguments(p)
    add_progress_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines on stderr (as --no-progress)")
    p.set_defaults(func=run_evaluate_command)
    return p


def _add_source_arguments(p) -> None:
    """Where the model and inputs come from: a bundled data set, or a model file with its inputs."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=DATASETS, help="a bundled data set with its model")
    src.add_argument(
        "--model",
        default=None,
        help="your model instead: a file saved with torch.save(module) or TorchScript (or a bundled "
        "name: digits-cnn8, digits-cnn28, breast-cancer-mlp); its inputs come from --data",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="NPY",
        help="with --model: a .npy file of inputs along axis 0 (or digits8-test, digits28-test, breast-cancer-test)",
    )
    p.add_argument("--targets", default=None, metavar="NPY", help="with --model: class per input (default: predicted)")
    p.add_argument("--labels", default=None, metavar="NPY", help="with --model: true class per input (optional)")
    p.add_argument("--n", type=int_at_least(1), default=20, help="number of inputs, the first n (default: 20)")
    p.add_argument("--out", required=True, help="report folder (created if missing; reruns reuse its cache)")
    add_data_seed_arguments(p, what="--dataset's model")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="model weights cache (default: $TRACE_OPT_CACHE or ./.cache/trace-trajectories)",
    )


def _add_study_arguments(p) -> None:
    """The study's own settings: what runs beside the search, and what the report adds."""
    g = p.add_argument_group("the comparison (trace_opt.comparison EvaluationConfig and ReportSettings)")
    g.add_argument(
        "--sa-iterations",
        type=int_at_least(1),
        default=2000,
        help="with --solver sa: the paper's SA at K iterations, cooling eta = 0.999 ** (10000 / K) (--solver-options "
        "laid over it) (default: 2000)",
    )
    g.add_argument(
        "--trace-objectives",
        nargs="+",
        default=["le-mo", "le", "mo"],
        choices=["le-mo", "le", "mo"],
        help="the TRACE variants run, each on every output (default: le-mo le mo)",
    )
    g.add_argument("--methods", nargs="+", default=None, help="baseline names (default: all that apply)")
    g.add_argument(
        "--exact-max-t",
        type=int_at_least(0),
        default=20,
        help="exact optimum and CS bounds when t <= this (default: 20)",
    )
    g.add_argument(
        "--tables",
        nargs="+",
        default=None,
        metavar="PATH",
        help="instance files or folders with complete tables computed earlier (e.g. instances/imagenet, "
        "from bench/imagenet_exact.py): an input whose table is there, for the same input, features, "
        "target, reference and output, uses it instead of 2^t forward passes, once the model agrees "
        "with it on a few sets",
    )
    g.add_argument(
        "--keep-maps", type=int_at_least(0), default=4, help="inputs shown in the heatmap figure (default: 4)"
    )
    g.add_argument(
        "--sanity-n", type=int_at_least(0), default=3, help="inputs in the sanity check (0 = skip; default: 3)"
    )
    g.add_argument(
        "--sanity-sa-iterations",
        type=int_at_least(1),
        default=None,
        help="SA iterations in the sanity check (default: --sa-iterations)",
    )
    g.add_argument(
        "--no-several-t", action="store_true", help="skip Appendix B (input 0 explained at 2 x 2, 4 x 4 and 7 x 7)"
    )


def _check_flags(args) -> None:
    """Refuse, before any work, what the study does not take: the shared flags it sets itself, reference options
    (the evaluation writes a reference kind with its defaults, or a data set's own reference), the data set's
    split and weights with a model file, a data set's features or reference."""
    for name, (default, why) in NOT_FOR_EVALUATE.items():
        if getattr(args, name) != default:
            flag = SETTING_FLAGS[name]
            raise ValueError(f"{flag} {getattr(args, name)}: not an option of evaluate; {why}")
    options = [SETTING_FLAGS[a] for a in ("value", "sigma", "noise_std") if getattr(args, a) is not None]
    if options:
        raise ValueError(
            f"{', '.join(options)}: not options of evaluate; its baselines and oracles take the reference kind with "
            "its defaults (--reference)"
        )
    if args.model is not None and (args.data_seed or args.model_seed):
        raise ValueError(
            "--data-seed and --model-seed choose a bundled --dataset's split and weights; with --model "
            "your file and --data are used as they are"
        )
    if args.dataset is not None:
        given = [f"--{a}" for a in ("data", "targets", "labels", "features") if getattr(args, a) is not None]
        given += ["--reference"] if args.reference != "zeros" else []
        if given:
            raise ValueError(f"{', '.join(given)}: only with --model; --dataset {args.dataset} brings its own")


def _settings(args):
    """The search of every TRACE run: the shared flags' ``ExplainSettings``, with the paper's SA at
    ``--sa-iterations`` under ``--solver-options`` when the solver is SA (as ``evaluation_settings``)."""
    from trace_opt.comparison.evaluation import paper_sa_options

    options = dict(args.solver_options or {})
    if args.solver == "sa":
        options = {**paper_sa_options(args.sa_iterations), **options}
    return explain_settings(args, solver_options=options, progress=False)


def _setup_from_args(args, settings):
    """``--dataset NAME`` as is, or a ``Setup`` of ``--model`` and ``--data`` with the settings' features and
    reference (checked before any work)."""
    if args.dataset is not None:
        return args.dataset
    import numpy as np

    from trace_opt.comparison.report import make_setup
    from trace_opt.models.data import load_model_and_data

    model, X = load_model_and_data(args.model, args.data)
    n = min(args.n, len(X))
    arrays = {}
    for a in ("targets", "labels"):
        path = getattr(args, a)
        if path is not None:
            if not Path(path).is_file():
                raise ValueError(f"--{a} {path!r} is not an existing .npy file")
            arrays[a] = np.load(path)[:n]
    return make_setup(
        model,
        X[:n],
        arrays.get("targets"),
        labels=arrays.get("labels"),
        features=settings.features,
        reference=settings.reference,
        name=Path(args.model).stem,
        description=f"model `{args.model}` on inputs `{args.data or 'its bundled test split'}`",
    )


def run_evaluate_command(args) -> int:
    from trace_opt.baselines import get_baseline
    from trace_opt.comparison.evaluation import EvaluationConfig
    from trace_opt.comparison.report import ReportSettings, run_report
    from trace_opt.core.io import check_output_dir

    _check_flags(args)
    settings = _settings(args)  # checked before any work
    check_output_dir("--out", args.out)  # before the model is loaded or trained
    for name in args.methods or ():  # an unknown name is refused before the model is loaded
        try:
            get_baseline(name)
        except ValueError as exc:
            raise ValueError(str(exc).replace("method=", "--methods ", 1)) from None
    config = EvaluationConfig(
        methods=args.methods,
        trace_objectives=tuple(args.trace_objectives),
        exact_max_t=args.exact_max_t,
        keep_maps=args.keep_maps,
        tables=tuple(args.tables or ()),
        explain=settings,
    )
    report = ReportSettings(
        sanity_n=args.sanity_n,
        sanity_sa_iterations=args.sanity_sa_iterations,
        several_t=not args.no_several_t,
        data_seed=args.data_seed,
        model_seed=args.model_seed,
        cache_dir=args.cache_dir,
        progress=not (args.quiet or args.no_progress),
        command=command_line(args),
    )
    res = run_report(_setup_from_args(args, settings), args.n, args.out, config, report)
    for o, h in res["summary"]["headline"].items():
        print(
            f"{o}: {h['trace']} Le-Mo {h['trace_le_mo']:.4g} vs best baseline {h['best_baseline']} "
            f"{h['best_baseline_le_mo']:.4g} (x{h['factor']:.3f})"
        )
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
