"""The ``demo`` command (``python -m trace_opt demo``).

``demo`` trains (or loads from the cache) the 8 x 8 digits CNN, explains N test digits with
TRACE-(Le-Mo) on logits over a 4 x 4 grid of 2 x 2 patches (t = 16), prints a table comparing the
searched trajectory with the greedy LeRF order, and writes one JSON and three PNGs per explanation
plus ``summary.json`` into the output folder. One Ctrl-C stops it: the digit being searched keeps its
best-so-far (written as usual, ``stopped`` = ``"interrupted"`` in the table), no further digit is
started, ``summary.json`` is still written, and the exit status is 130.
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numpy as np

from trace_opt.cli._args import add_explain_arguments, add_progress_argument, explain_settings, int_at_least, on_device

DEMO_GRID = 4  # 4 x 4 patches of 2 x 2 pixels on the 8 x 8 digits: t = 16
DEMO_SIZE = 8


def add_demo_parser(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    demo = subparsers.add_parser(
        "demo",
        help="explain real test digits with TRACE-(Le-Mo) and write JSON + figures",
        description="Train (or load from the cache) a small CNN on scikit-learn's 8x8 digits, explain N test "
        "digits with TRACE-(Le-Mo) on logits over 2x2 patches (t=16), print a table, and write "
        "one JSON and three PNG figures per explanation plus summary.json into --out.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("runs/demo"),
        metavar="DIR",
        help="output folder (created if missing; default: runs/demo)",
    )
    demo.add_argument(
        "--n",
        type=int_at_least(1),
        default=4,
        metavar="N",
        help="number of test digits to explain, the first N of the test split (default: 4)",
    )
    demo.add_argument(
        "--iterations",
        type=int_at_least(1),
        default=None,
        metavar="K",
        help="solver iterations: the solver's own 'iterations' parameter if it has one (SA: K, "
        "default 10000 as in the paper), otherwise an iteration limit of the budget",
    )
    demo.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where trained weights are cached (default: $TRACE_OPT_CACHE or ./.cache/trace-trajectories)",
    )
    add_explain_arguments(
        demo,
        defaults={"features": DEMO_GRID, "output": "logit"},
        features_help=f"a G x G grid of patches on the 8 x 8 digits (default: {DEMO_GRID}, 2 x 2 pixels each, t = 16)",
    )
    add_progress_argument(demo)
    demo.set_defaults(func=run_demo)


def _demo_settings(args):
    """The demo's ``ExplainSettings``: the flags, with ``--iterations`` given to the solver if it takes an
    ``iterations`` parameter, else to the budget; and how it was applied."""
    from solvers import SOLVERS

    settings = explain_settings(args)
    if args.iterations is None:
        return settings, None
    if "iterations" in inspect.signature(SOLVERS[settings.solver].__init__).parameters:
        return settings.replace(
            solver_options={**settings.solver_options, "iterations": args.iterations}
        ), "solver parameter"
    budget = settings.budget_object()
    return settings.replace(
        budget={"forward_passes": budget.forward_passes, "seconds": budget.seconds, "iterations": args.iterations}
    ), "budget limit"


def _table(rows: list[dict]) -> str:
    cols = [
        ("index", "idx", "{:d}"),
        ("label", "label", "{:d}"),
        ("target", "target", "{:d}"),
        ("value", "objective", "{:.2f}"),
        ("auc_le", "AUC-Le", "{:.2f}"),
        ("auc_mo", "AUC-Mo", "{:.2f}"),
        ("le_mo", "Le-Mo", "{:.2f}"),
        ("greedy_le_mo", "greedy Le-Mo", "{:.2f}"),
        ("gain", "gain", "{:+.2f}"),
        ("forward_passes", "passes", "{:d}"),
        ("seconds", "seconds", "{:.2f}"),
    ]
    if any(r["stopped"] != "completed" for r in rows):  # a search cut short (budget, time, Ctrl-C) says so
        cols.append(("stopped", "stopped", "{}"))
    cells = [[fmt.format(r[key]) for key, _, fmt in cols] for r in rows]
    widths = [max(len(head), *(len(c[i]) for c in cells)) for i, (_, head, _) in enumerate(cols)]
    line = lambda parts: "  ".join(p.rjust(w) for p, w in zip(parts, widths))  # noqa: E731
    out = [line([head for _, head, _ in cols]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    return "\n".join(out)


def run_demo(args) -> int:
    """The ``demo`` command (see ``build_parser``); torch threads are restored afterwards."""
    from trace_opt.explanation.single import torch_threads

    settings, iterations_applied = _demo_settings(args)  # every flag checked before any work
    with torch_threads(settings.threads):  # also around the greedy baseline below
        return _demo(args, settings, iterations_applied)


def _demo(args, settings, iterations_applied) -> int:
    import matplotlib.pyplot as plt
    from tqdm.auto import tqdm

    import trace_opt
    from solvers import greedy_order
    from trace_opt.core.io import atomic_write_json, check_output_dir, json_values
    from trace_opt.explanation.plots import plot_curves, plot_deletion_sequence, plot_overlay
    from trace_opt.models.data import digits_cnn, load_digits_split

    start = time.perf_counter()
    progress = settings.progress
    solver = settings.solver_object()
    out = check_output_dir("--out", args.out, create=True)
    grid = settings.features if isinstance(settings.features, tuple) else (settings.features,) * 2
    t = grid[0] * grid[1]

    t0 = time.perf_counter()
    model = on_device(digits_cnn(size=DEMO_SIZE, seed=0, cache_dir=args.cache_dir), settings)
    model_seconds = time.perf_counter() - t0
    _, X_test, _, y_test = load_digits_split(size=DEMO_SIZE, seed=0)
    if args.n > len(X_test):
        raise ValueError(f"--n {args.n} is more than the {len(X_test)} digits of the test split")
    model_info = {
        "architecture": model.config["arch"],
        "test_accuracy": model.test_accuracy,
        "weights_source": model.weights_source,
        "loaded_from_cache": model.loaded_from_cache,
        "cache_path": str(model.cache_path),
        "config": model.config,
        "seconds": model_seconds,
    }
    how = {"shipped": "shipped weights", "cache": "weights trained here earlier (cache)", "trained": "trained here"}[
        model.weights_source
    ]
    print(
        f"model: {model.config['arch']} on sklearn digits 8x8, test accuracy {model.test_accuracy:.4f} "
        f"({how}, {model_seconds:.2f} s; {model.cache_path})"
    )
    print(
        f"explaining {args.n} test digit(s): TRACE-{settings.objective} on {settings.output}, {grid[0]}x{grid[1]} "
        f"grid (t={t}), reference {settings.reference}, solver {settings.solver} {solver.get_params()}, "
        f"budget {settings.budget}, seed {settings.seed}, device {settings.device}, {settings.precision}, "
        f"{settings.threads} torch thread(s)"
    )

    # One Ctrl-C stops the demo: inside a search the solver returns its best-so-far (written like any
    # other result), elsewhere the digit in progress is dropped; summary.json is written either way.
    rows, files, interrupted = [], [], None
    explainer = trace_opt.Explainer(model, settings)
    try:
        for i in tqdm(range(args.n), desc="digits", disable=not progress, dynamic_ncols=True):
            x, label = X_test[i], int(y_test[i])
            t1 = time.perf_counter()
            exp = explainer.explain(x, target=None)
            seconds = time.perf_counter() - t1
            # Baseline: the greedy LeRF order (greedy on D alone, the paper's greedy), scored by Le-Mo.
            passes_before = exp.oracle.forward_passes
            greedy = greedy_order(trace_opt.TraceProblem(exp.oracle, "le"), "lerf")
            greedy_curves = trace_opt.TraceProblem(exp.oracle, "le-mo").curves(greedy)
            baseline_passes = exp.oracle.forward_passes - passes_before
            row = {
                "index": i,
                "label": label,
                "target": int(exp.target),
                "value": float(exp.value),
                "auc_le": exp.curves.auc_le,
                "auc_mo": exp.curves.auc_mo,
                "le_mo": exp.curves.le_mo,
                "greedy_le_mo": greedy_curves.le_mo,
                "gain": exp.curves.le_mo - greedy_curves.le_mo,
                "forward_passes": int(exp.result.forward_passes),
                "seconds": seconds,
                "stopped": exp.result.stopped,
            }
            stem = f"digit_{i:03d}"
            figs = {
                "overlay": f"{stem}_overlay.png",
                "deletion_sequence": f"{stem}_sequence.png",
                "curves": f"{stem}_curves.png",
            }
            title = f"test digit {i} (label {label}), explained class {exp.target}"
            plt.close(plot_overlay(exp, path=out / figs["overlay"], title=title))
            plt.close(plot_deletion_sequence(exp, path=out / figs["deletion_sequence"]))
            plt.close(
                plot_curves(
                    exp,
                    baseline=greedy_curves,
                    baseline_label="greedy LeRF order",
                    path=out / figs["curves"],
                    title=title,
                )
            )
            record = {
                "input": {
                    "dataset": "sklearn.datasets.load_digits",
                    "size": DEMO_SIZE,
                    "split": "test",
                    "split_seed": 0,
                    "index": i,
                    "label": label,
                    "shape": list(x.shape),
                    "pixels": x.numpy().tolist(),
                },
                "model": {
                    "architecture": model.config["arch"],
                    "test_accuracy": model.test_accuracy,
                    "config": model.config,
                },
                "features": {"kind": "grid", "grid": list(grid), "t": t},
                "reference": settings.to_dict()["reference"],
                "seed": settings.seed,
                "budget": settings.budget,
                "seconds": seconds,
                "explanation": exp.to_dict(),
                "baseline": {
                    "name": "greedy LeRF order (greedy on D, objective 'le')",
                    "trajectory": greedy.tolist(),
                    "auc_le": greedy_curves.auc_le,
                    "auc_mo": greedy_curves.auc_mo,
                    "le_mo": greedy_curves.le_mo,
                    "curves": greedy_curves.to_dict(),
                    "extra_forward_passes": baseline_passes,
                },
                "figures": figs,
            }
            atomic_write_json(out / f"{stem}.json", record)
            rows.append(row)
            files.append({"json": f"{stem}.json", **figs})
            if exp.result.stopped == "interrupted":  # Ctrl-C inside the search: its best-so-far is saved above
                interrupted = f"Ctrl-C during digit {i}; its best-so-far was written"
                break
    except KeyboardInterrupt:
        interrupted = f"Ctrl-C after {len(files)} digit(s)"
    if interrupted:
        print(f"\ninterrupted ({interrupted}); stopping", file=sys.stderr)

    mean = None
    if rows:
        print()
        print(_table(rows))
        mean = {
            k: float(np.mean([r[k] for r in rows]))
            for k in ("le_mo", "greedy_le_mo", "gain", "forward_passes", "seconds")
        }
        print(
            f"\nmean Le-Mo {mean['le_mo']:.2f} (greedy LeRF order {mean['greedy_le_mo']:.2f}, gain "
            f"{mean['gain']:+.2f}); {mean['forward_passes']:.0f} forward passes and {mean['seconds']:.2f} s "
            "per explanation"
        )
    total = time.perf_counter() - start
    summary = {
        "command": "demo",
        "argv": getattr(args, "argv", None),
        "settings": {
            "n": args.n,
            **settings.to_dict(),
            "solver_params": json_values(solver.get_params()),
            "iterations": args.iterations,
            "iterations_applied_as": iterations_applied,
        },
        "model": model_info,
        "rows": rows,
        "mean": mean,
        "files": files,
        "interrupted": interrupted,
        "seconds_total": total,
    }
    atomic_write_json(out / "summary.json", summary)
    print(f"wrote {len(files)} explanation(s) (JSON + 3 PNGs each) and summary.json to {out} in {total:.1f} s")
    return 130 if interrupted else 0
