"""The ``explain-dataset`` command: one result file per input, resumable; in-process, on a process
pool, on a Ray cluster or in lockstep.

Settings (DESIGN.md section 9): every explanation setting comes from the shared flags (``add_explain_arguments``)
as one ``ExplainSettings``; every input is searched with ``--seed`` itself (the project's batch rule: a result
depends only on the model, the input and the settings). The library modules are imported inside
``_cli_explain_dataset``: building the parser (``--help``) must not import torch (tests/test_cli_help.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from trace_opt.cli._args import add_explain_arguments, add_progress_argument, explain_settings, int_at_least, on_device


def add_explain_dataset_parser(sub) -> None:
    """The ``explain-dataset`` subcommand."""
    p = sub.add_parser(
        "explain-dataset",
        help="explain many inputs: one result file each, resumable, local or Ray",
        description="Explain inputs of a data set with TRACE; writes OUT/results/<id>.json per input "
        "and OUT/summary.json; OUT/run.json records the settings. Rerunning with the same "
        "settings skips finished inputs; with other settings it is refused unless "
        "--overwrite. Ctrl-C stops the run at "
        "once (exit 130): finished inputs are kept, the one cut short is computed on the "
        "next run.",
    )
    p.add_argument(
        "--model",
        default="digits-cnn8",
        help="digits-cnn8, digits-cnn28, breast-cancer-mlp, efficientnet-lite0 (ImageNet), or a file saved "
        "with torch.save(module) / TorchScript (default: digits-cnn8)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="digits8-test, digits28-test, breast-cancer-test, imagenet-photos, a folder of PNG/JPEG "
        "photos, or a .npy file of inputs along axis 0 (default: the test split matching a bundled "
        "--model, the 8 bundled photos for efficientnet-lite0; needed with a model file)",
    )
    p.add_argument("--start", type=int_at_least(0), default=0, metavar="I", help="first input (default: 0)")
    p.add_argument(
        "--n", type=int_at_least(1), default=None, metavar="N", help="number of inputs (default: all from --start)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/dataset"),
        metavar="DIR",
        help="output folder (created if missing; default: runs/dataset)",
    )
    add_explain_arguments(p)
    p.add_argument(
        "--n-jobs", type=int_at_least(1), default=1, help="local worker processes (default: 1, in this process)"
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster address (auto, HOST:PORT); checked before any work (default: no Ray)",
    )
    p.add_argument("--chunk-size", type=int_at_least(1), default=1, help="inputs per task (default: 1)")
    p.add_argument(
        "--lockstep",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="explain N inputs together, their searches sharing each model call (explain_many; "
        "each result is that of its solo run on a batch-invariant model); a task is then N "
        "inputs (default: 1, one by one)",
    )
    p.add_argument(
        "--max-retries", type=int_at_least(0), default=3, help="retries of a task whose worker died (default: 3)"
    )
    p.add_argument(
        "--model-id",
        default=None,
        metavar="NAME",
        help="name of the model version, used instead of its weights' fingerprint to decide which "
        "finished results a rerun may reuse (default: the fingerprint)",
    )
    add_progress_argument(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="OUT holds a run with other settings (OUT/run.json): delete its results and run anew "
        "(default: such a rerun is refused; a rerun with the same settings resumes)",
    )
    p.set_defaults(func=_cli_explain_dataset)


def _cli_explain_dataset(args) -> int:
    from trace_opt.core.io import check_output_dir
    from trace_opt.explanation.dataset import check_ray_address, explain_dataset_with_settings
    from trace_opt.models.data import load_model_and_data

    settings = explain_settings(args, progress=False)  # checked before any work; one line per input instead of bars
    check_output_dir("--out", args.out)  # before loading anything
    if args.ray_address is not None:
        check_ray_address(args.ray_address, name="--ray-address")
    model, X = load_model_and_data(args.model, args.data)
    model = on_device(model, settings)
    if settings.features is None and X.dim() == 4 and X.shape[1] == 3 and min(X.shape[2:]) >= 32:
        settings = settings.replace(features=7)  # photos: the explain command's 7 x 7 grid (t = 49), not 4 x 4
    stop = len(X) if args.n is None else min(len(X), args.start + args.n)
    if not 0 <= args.start < stop:
        raise ValueError(f"--start {args.start} / --n {args.n} select no input of the {len(X)} available")
    ids = [f"{i:06d}" for i in range(args.start, stop)]
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(ids), desc="inputs", unit="input", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True
    )

    def started(pending, skipped):
        bar.update(skipped)  # finished before this run

    def done(r):
        bar.write(
            f"{r['id']}: {r['status']}"
            + (f" ({r['error']['message']})" if r["status"] != "ok" else "")
            + "".join(f"\n  warning: {w}" for w in r.get("warnings", [])),
            file=sys.stdout,
        )
        bar.update(1)

    start = time.perf_counter()
    with bar:
        run = explain_dataset_with_settings(
            model,
            X[args.start : stop],
            args.out,
            settings,
            ids=ids,
            n_jobs=args.n_jobs,
            ray_address=args.ray_address,
            chunk_size=args.chunk_size,
            max_retries=args.max_retries,
            model_id=args.model_id,
            lockstep=args.lockstep,
            overwrite=args.overwrite,
            on_start=started,
            on_result=done,
        )
    print(
        f"{len(run.computed)} explained, {len(run.skipped)} already done, {len(run.failed)} failed; "
        f"{time.perf_counter() - start:.1f} s; summary: {run.summary_path}"
    )
    return 0 if not run.failed else 1
