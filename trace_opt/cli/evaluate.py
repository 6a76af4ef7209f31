"""The ``evaluate`` command: TRACE against attribution baselines, written as a report folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trace_opt.cli._choices import DATASETS


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to an argparse subparsers object (used by ``trace_opt.cli``)."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate TRACE against attribution baselines; write a report folder",
        description=__doc__.split("\n\n")[0],
    )
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
    from trace_opt.cli._args import add_progress_argument, int_at_least, json_object

    p.add_argument(
        "--features",
        type=int_at_least(1),
        default=None,
        metavar="G",
        help="with --model: a G x G grid of patches for images (default 4; 1-D rows: one per column)",
    )
    p.add_argument("--reference", default="zeros", help="with --model: what deletion writes (default: zeros)")
    p.add_argument("--n", type=int_at_least(1), default=20, help="number of inputs, the first n (default: 20)")
    p.add_argument("--out", required=True, help="report folder (created if missing; reruns reuse its cache)")
    p.add_argument(
        "--sa-iterations", type=int_at_least(1), default=2000, help="SA iterations K per TRACE run (default: 2000)"
    )
    p.add_argument(
        "--solver", default="sa", help="the TRACE runs' solver (default: sa, the paper's SA with --sa-iterations)"
    )
    p.add_argument(
        "--solver-options",
        type=json_object("--solver-options"),
        default=None,
        metavar="JSON",
        help="the solver's options as a JSON object (default: none)",
    )
    p.add_argument(
        "--budget",
        type=int_at_least(1),
        default=None,
        metavar="FP",
        help="forward passes per TRACE run, a hard limit (default: no limit)",
    )
    p.add_argument(
        "--trace-objectives",
        nargs="+",
        default=["le-mo", "le", "mo"],
        choices=["le-mo", "le", "mo"],
        help="the TRACE variants run (default: le-mo le mo)",
    )
    p.add_argument(
        "--no-several-t", action="store_true", help="skip Appendix B (input 0 explained at 2 x 2, 4 x 4 and 7 x 7)"
    )
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of the searches and random baselines (input i uses seed + i); it never retrains the "
        "model or re-splits the data (default: 0)",
    )
    p.add_argument(
        "--data-seed",
        type=int_at_least(0),
        default=0,
        help="with --dataset: the train/test split (default: 0, the split of the shipped weights)",
    )
    p.add_argument(
        "--model-seed",
        type=int_at_least(0),
        default=0,
        help="with --dataset: the model's weights (default: 0, the shipped weights; another seed trains "
        "the model here, and its numbers are not those of the committed reports)",
    )
    p.add_argument("--device", default="cpu", help="where the model runs: cpu, cuda, cuda:N (default: cpu)")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "tf32", "bf16", "fp16"],
        help="arithmetic of the TRACE searches' forward passes; every curve is measured in fp32 (default: fp32)",
    )
    p.add_argument("--methods", nargs="+", default=None, help="baseline names (default: all that apply)")
    p.add_argument(
        "--sanity-n", type=int_at_least(0), default=3, help="inputs in the sanity check (0 = skip; default: 3)"
    )
    p.add_argument(
        "--sanity-sa-iterations",
        type=int_at_least(1),
        default=None,
        help="SA iterations in the sanity check (default: --sa-iterations)",
    )
    p.add_argument(
        "--exact-max-t",
        type=int_at_least(0),
        default=20,
        help="exact optimum and CS bounds when t <= this (default: 20)",
    )
    p.add_argument(
        "--tables",
        nargs="+",
        default=None,
        metavar="PATH",
        help="instance files or folders with complete tables computed earlier (e.g. instances/imagenet, "
        "from bench/imagenet_exact.py): an input whose table is there, for the same input, features, "
        "target, reference and output, uses it instead of 2^t forward passes, once the model agrees "
        "with it on a few sets",
    )
    p.add_argument(
        "--keep-maps", type=int_at_least(0), default=4, help="inputs shown in the heatmap figure (default: 4)"
    )
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=256, help="masked inputs per model call (default: 256)"
    )
    p.add_argument("--threads", type=int_at_least(1), default=1, help="torch intra-op threads (default: 1)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="model weights cache (default: $TRACE_OPT_CACHE or ./.cache/trace-trajectories)",
    )
    add_progress_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines on stderr (as --no-progress)")
    p.set_defaults(func=run_evaluate_command)
    return p


def _setup_from_args(args):
    """``--dataset NAME`` as is, or a ``Setup`` built from ``--model``/``--data``/... (checked before any work)."""
    import numpy as np

    from trace_opt.attribution.report import make_setup
    from trace_opt.core.validation import check_positive_int

    with_model = ("data", "targets", "labels", "features")
    if args.dataset is not None:
        given = [f"--{a}" for a in with_model if getattr(args, a) is not None] + (
            ["--reference"] if args.reference != "zeros" else []
        )
        if given:
            raise ValueError(f"{', '.join(given)}: only with --model; --dataset {args.dataset} brings its own")
        return args.dataset, ["--dataset", args.dataset]
    from trace_opt.models.data import load_model_and_data

    model, X = load_model_and_data(args.model, args.data)
    n = min(check_positive_int("n", args.n), len(X))
    arrays = {}
    for a in ("targets", "labels"):
        path = getattr(args, a)
        if path is not None:
            if not Path(path).is_file():
                raise ValueError(f"--{a} {path!r} is not an existing .npy file")
            arrays[a] = np.load(path)[:n]
    setup = make_setup(
        model,
        X[:n],
        arrays.get("targets"),
        labels=arrays.get("labels"),
        features=args.features,
        reference=args.reference,
        name=Path(args.model).stem,
        description=f"model `{args.model}` on inputs `{args.data or 'its bundled test split'}`",
    )
    parts = (
        ["--model", args.model]
        + sum(([f"--{a}", str(getattr(args, a))] for a in with_model if getattr(args, a) is not None), [])
        + ["--reference", args.reference]
    )
    return setup, parts


def run_evaluate_command(args) -> int:
    from trace_opt.attribution.report import run_report
    from trace_opt.core.io import check_output_dir

    if args.model is not None and (args.data_seed or args.model_seed):
        raise ValueError(
            "--data-seed and --model-seed choose a bundled --dataset's split and weights; with --model "
            "your file and --data are used as they are"
        )
    check_output_dir("--out", args.out)  # before the model is loaded or trained
    if args.methods:  # an unknown name is refused before the model is loaded
        from trace_opt.baselines import get_baseline

        for name in args.methods:
            try:
                get_baseline(name)
            except ValueError as exc:
                raise ValueError(str(exc).replace("method=", "--methods ", 1)) from None
    dataset, source = _setup_from_args(args)
    cmd_parts = [
        "python -m trace_opt evaluate",
        *source,
        f"--n {args.n}",
        f"--out {args.out}",
        f"--sa-iterations {args.sa_iterations}",
        f"--seed {args.seed}",
        f"--sanity-n {args.sanity_n}",
    ]
    for flag, value, default in (
        ("--data-seed", args.data_seed, 0),
        ("--model-seed", args.model_seed, 0),
        ("--device", args.device, "cpu"),
        ("--precision", args.precision, "fp32"),
        ("--solver", args.solver, "sa"),
        ("--budget", args.budget, None),
        ("--features", args.features, None),
        ("--batch-size", args.batch_size, 256),
        ("--keep-maps", args.keep_maps, 4),
    ):
        if value != default and f"{flag} " not in " ".join(cmd_parts):
            cmd_parts.append(f"{flag} {value}")
    if args.solver_options:
        cmd_parts.append("--solver-options '" + json.dumps(args.solver_options) + "'")
    if args.trace_objectives != ["le-mo", "le", "mo"]:
        cmd_parts.append("--trace-objectives " + " ".join(args.trace_objectives))
    if args.no_several_t:
        cmd_parts.append("--no-several-t")
    if args.sanity_sa_iterations:
        cmd_parts.append(f"--sanity-sa-iterations {args.sanity_sa_iterations}")
    if args.methods:
        cmd_parts.append("--methods " + " ".join(args.methods))
    if args.exact_max_t != 20:
        cmd_parts.append(f"--exact-max-t {args.exact_max_t}")
    if args.tables:
        cmd_parts.append("--tables " + " ".join(args.tables))
    res = run_report(
        dataset,
        args.n,
        args.out,
        sa_iterations=args.sa_iterations,
        seed=args.seed,
        methods=args.methods,
        sanity_n=args.sanity_n,
        sanity_sa_iterations=args.sanity_sa_iterations,
        exact_max_t=args.exact_max_t,
        keep_maps=args.keep_maps,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        progress=not (args.quiet or args.no_progress),
        command=" ".join(cmd_parts),
        threads=args.threads,
        data_seed=args.data_seed,
        model_seed=args.model_seed,
        device=args.device,
        precision=args.precision,
        trace_solver=args.solver,
        trace_solver_options=args.solver_options,
        budget=args.budget,
        trace_objectives=args.trace_objectives,
        several_t=not args.no_several_t,
        tables=tuple(args.tables or ()),
    )
    for o, h in res["summary"]["headline"].items():
        print(
            f"{o}: {h['trace']} Le-Mo {h['trace_le_mo']:.4g} vs best baseline {h['best_baseline']} "
            f"{h['best_baseline_le_mo']:.4g} (x{h['factor']:.3f})"
        )
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
