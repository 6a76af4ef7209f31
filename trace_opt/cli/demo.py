"""The ``demo`` command (``python -m trace_opt demo``).

``demo`` trains (or loads from the cache) the 8 x 8 digits CNN, explains N test digits with
TRACE-(Le-Mo) on logits over a 4 x 4 grid of 2 x 2 patches (t = 16), prints a table comparing the
searched trajectory with the greedy LeRF order, and writes one JSON and three PNGs per explanation
plus ``summary.json`` into the output folder. One Ctrl-C stops it: the digit being searched keeps its
best-so-far (written as usual, ``stopped`` = ``"interrupted"`` in the table), no further digit is
started, ``summary.json`` is still written, and the exit status is 130.
"""

# The library (torch, matplotlib, solvers) is imported inside the functions that run the command, not here:
# building the parser must stay torch-free so that ``--help`` is fast (tests/test_cli_help.py).
from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numpy as np

from trace_opt.cli._args import (
    add_data_seed_arguments,
    add_explain_arguments,
    add_progress_argument,
    explain_settings,
    int_at_least,
    on_device,
)
from trace_opt.core.io import atomic_write_json, check_output_dir, json_values

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
    add_data_seed_arguments(demo, what="the digits CNN")
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


def _print_table(rows: list[dict]) -> dict | None:
    """Print the table and the means of the rows; returns the means (None without rows)."""
    if not rows:
        return None
    print()
    print(_table(rows))
    mean = {
        k: float(np.mean([r[k] for r in rows])) for k in ("le_mo", "greedy_le_mo", "gain", "forward_passes", "seconds")
    }
    print(
        f"\nmean Le-Mo {mean['le_mo']:.2f} (greedy LeRF order {mean['greedy_le_mo']:.2f}, gain "
        f"{mean['gain']:+.2f}); {mean['forward_passes']:.0f} forward passes and {mean['seconds']:.2f} s "
        "per explanation"
    )
    return mean


def run_demo(args) -> int:
    """The ``demo`` command (see ``build_parser``); torch threads are restored afterwards."""
    from trace_opt.explanation.single import torch_threads

    settings, iterations_applied = _demo_settings(args)  # every flag checked before any work
    with torch_threads(settings.threads):  # also around the greedy baseline below
        return _demo(args, settings, iterations_applied)


def _demo(args, settings, iterations_applied) -> int:
    """Load the model and the test digits, explain each (one Ctrl-C stops after the digit in progress), print
    the table and write summary.json."""
    start = time.perf_counter()
    out = check_output_dir("--out", args.out, create=True)
    model, model_info = _load_model(args, settings)
    X_test, y_test = _test_digits(args)
    _print_plan(args, settings, model_info)
    rows, files, interrupted = _explain_digits(args, settings, model, X_test, y_test, out)
    if interrupted:
        print(f"\ninterrupted ({interrupted}); stopping", file=sys.stderr)
    mean = _print_table(rows)
    total = time.perf_counter() - start
    summary = {
        "command": "demo",
        "argv": getattr(args, "argv", None),
        "settings": {
            "n": args.n,
            **settings.to_dict(),
            "solver_params": json_values(settings.solver_object().get_params()),
            "iterations": args.iterations,
            "iterations_applied_as": iterations_applied,
            "data_seed": args.data_seed,
            "model_seed": args.model_seed,
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


def _load_model(args, settings):
    """The digits CNN of ``--model-seed`` on the settings' device, and what the summary says of it."""
    from trace_opt.models import data

    t0 = time.perf_counter()
    model = on_device(data.digits_cnn(size=DEMO_SIZE, model_seed=args.model_seed, cache_dir=args.cache_dir), settings)
    info = {
        "architecture": model.config["arch"],
        "test_accuracy": model.test_accuracy,
        "weights_source": model.weights_source,
        "loaded_from_cache": model.loaded_from_cache,
        "cache_path": str(model.cache_path),
        "config": model.config,
        "seconds": time.perf_counter() - t0,
    }
    return model, info


def _test_digits(args):
    """The test split of ``--data-seed``: ``(X_test, y_test)``; ``--n`` must not exceed it."""
    from trace_opt.models import data

    _, X_test, _, y_test = data.load_digits_split(size=DEMO_SIZE, data_seed=args.data_seed)
    if args.n > len(X_test):
        raise ValueError(f"--n {args.n} is more than the {len(X_test)} digits of the test split")
    return X_test, y_test


def _grid(settings) -> tuple:
    return settings.features if isinstance(settings.features, tuple) else (settings.features,) * 2


def _print_plan(args, settings, model_info: dict) -> None:
    how = {"shipped": "shipped weights", "cache": "weights trained here earlier (cache)", "trained": "trained here"}[
        model_info["weights_source"]
    ]
    print(
        f"model: {model_info['architecture']} on sklearn digits 8x8, test accuracy {model_info['test_accuracy']:.4f} "
        f"({how}, {model_info['seconds']:.2f} s; {model_info['cache_path']})"
    )
    grid = _grid(settings)
    print(
        f"explaining {args.n} test digit(s): TRACE-{settings.objective} on {settings.output}, {grid[0]}x{grid[1]} "
        f"grid (t={grid[0] * grid[1]}), reference {settings.reference}, solver {settings.solver} "
        f"{settings.solver_object().get_params()}, budget {settings.budget}, seed {settings.seed}, device "
        f"{settings.device}, {settings.precision}, {settings.threads} torch thread(s)"
    )


def _explain_digits(args, settings, model, X_test, y_test, out: Path):
    """Explain the first ``--n`` test digits, writing each one's JSON and figures: ``(rows, files, interrupted)``.
    One Ctrl-C stops the demo: inside a search the solver returns its best-so-far (written like any other
    result), elsewhere the digit in progress is dropped."""
    from tqdm.auto import tqdm

    from trace_opt.explanation.explainer import Explainer

    rows, files, interrupted = [], [], None
    explainer = Explainer(model, settings)
    try:
        for i in tqdm(range(args.n), desc="digits", disable=not settings.progress, dynamic_ncols=True):
            row, figs, stopped = _explain_digit(args, explainer, i, X_test[i], int(y_test[i]), out)
            rows.append(row)
            files.append({"json": f"digit_{i:03d}.json", **figs})
            if stopped == "interrupted":  # Ctrl-C inside the search: its best-so-far is saved
                interrupted = f"Ctrl-C during digit {i}; its best-so-far was written"
                break
    except KeyboardInterrupt:
        interrupted = f"Ctrl-C after {len(files)} digit(s)"
    return rows, files, interrupted


def _explain_digit(args, explainer, i: int, x, label: int, out: Path):
    """One digit: its explanation, the greedy LeRF order as a baseline (greedy on D alone, the paper's greedy,
    scored by Le-Mo), the figures and ``digit_<i>.json``: ``(table row, figure files, stopped)``."""
    from solvers import greedy_order
    from trace_opt.core.problem import TraceProblem

    t1 = time.perf_counter()
    exp = explainer.explain(x, target=None)
    seconds = time.perf_counter() - t1
    passes_before = exp.oracle.forward_passes
    greedy = greedy_order(TraceProblem(exp.oracle, "le"), "lerf")
    greedy_curves = TraceProblem(exp.oracle, "le-mo").curves(greedy)
    baseline = {
        "name": "greedy LeRF order (greedy on D, objective 'le')",
        "trajectory": greedy.tolist(),
        "auc_le": greedy_curves.auc_le,
        "auc_mo": greedy_curves.auc_mo,
        "le_mo": greedy_curves.le_mo,
        "curves": greedy_curves.to_dict(),
        "extra_forward_passes": exp.oracle.forward_passes - passes_before,
    }
    stem = f"digit_{i:03d}"
    title = f"test digit {i} (label {label}), explained class {exp.target}"
    figs = _write_digit_figures(exp, greedy_curves, out, stem, title)
    record = _digit_record(args, explainer, exp, i, x, label, seconds, baseline, figs)
    atomic_write_json(out / f"{stem}.json", record)
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
    return row, figs, exp.result.stopped


def _write_digit_figures(exp, greedy_curves, out: Path, stem: str, title: str) -> dict:
    """The overlay, the deletion sequence and the curves (with the greedy baseline): ``{kind: file name}``."""
    import matplotlib.pyplot as plt

    from trace_opt.explanation.plots import plot_curves, plot_deletion_sequence, plot_overlay

    figs = {
        "overlay": f"{stem}_overlay.png",
        "deletion_sequence": f"{stem}_sequence.png",
        "curves": f"{stem}_curves.png",
    }
    plt.close(plot_overlay(exp, path=out / figs["overlay"], title=title))
    plt.close(plot_deletion_sequence(exp, path=out / figs["deletion_sequence"]))
    curves = plot_curves(
        exp, baseline=greedy_curves, baseline_label="greedy LeRF order", path=out / figs["curves"], title=title
    )
    plt.close(curves)
    return figs


def _digit_record(args, explainer, exp, i: int, x, label: int, seconds: float, baseline: dict, figs: dict) -> dict:
    """``digit_<i>.json``: the input (its pixels), the model, the settings that made it, the explanation, the
    baseline and the figures."""
    settings, model = explainer.settings, explainer.model
    grid = _grid(settings)
    return {
        "input": {
            "dataset": "sklearn.datasets.load_digits",
            "size": DEMO_SIZE,
            "split": "test",
            "data_seed": args.data_seed,
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
        "features": {"kind": "grid", "grid": list(grid), "t": grid[0] * grid[1]},
        "reference": settings.to_dict()["reference"],
        "seed": settings.seed,
        "budget": settings.budget,
        "seconds": seconds,
        "explanation": exp.to_dict(),
        "baseline": baseline,
        "figures": figs,
    }
