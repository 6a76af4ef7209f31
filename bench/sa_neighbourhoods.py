"""SA with every neighbourhood on several digits images (the paper's Fig. 2 averages over images).

    .venv/bin/python bench/sa_neighbourhoods.py   # writes bench/results/sa_neighbourhoods.{md,json,png}

Same setting as ``bench/sa_paper.py`` (digits CNN 28x28, t = 49, zeros, logits, le-mo, K = 10,000,
T0 = 2, eta = 0.999, greedy start, incremental evaluation + cache, batch-invariant padded model, one
torch thread) on test images ``--images`` (default 1..4; image 0 is in sa_paper). Reported per
neighbourhood: mean final best score, mean gain over the greedy start, how often it is the best of
the seven, and mean forward passes; the figure shows the mean best-score gain against forward passes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from _harness import parse, parser, read_result, write_result
from _problems import PAD, SA_NEIGHBOURHOODS, TimedModel, curve, run_solver

from trace_opt import ModelOracle
from trace_opt.core.io import atomic_savefig
from trace_opt.models.data import digits_cnn, load_digits_split


def mean_curve(runs, grid):
    """Mean over images of (best score - greedy start) reached with at most N forward passes, for N on
    a grid (a finished run keeps its final best); NaN before a run's greedy start is complete."""
    ys = []
    for r in runs:
        xs, vs = curve(r)
        idx = np.searchsorted(xs, grid, side="right") - 1
        inside = idx >= 0
        ys.append(np.where(inside, vs[np.maximum(idx, 0)] - vs[0], np.nan))
    return np.mean(np.array(ys), axis=0)


def write_outputs(out, out_dir, stem, args=None, rerender=False):
    names = list(out["runs"])
    runs = out["runs"]
    images = out["images"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    grid = np.unique(np.logspace(3, np.log10(max(r["forward_passes"] for v in runs.values() for r in v)), 400))
    colours = plt.get_cmap("tab10").colors
    for i, name in enumerate(names):
        ys = mean_curve(runs[name], grid)
        ax.plot(grid, ys, color=colours[i], label=name)
        end = max(r["forward_passes"] for r in runs[name])  # the longest run of this neighbourhood ends here
        ax.plot([end], [ys[np.searchsorted(grid, end, side="right") - 1]], "o", color=colours[i], markersize=4)
    ax.set_xscale("log")
    ax.set_xlabel("forward passes (incremental evaluation + cache)")
    ax.set_ylabel("mean gain of the best Le-Mo score over the greedy start")
    ax.set_title(f"SA neighbourhoods, digits CNN t = 49, images {images}, K = {out['iterations']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    atomic_savefig(fig, Path(out_dir) / f"{stem}.png", dpi=120)
    plt.close(fig)
    lines = [
        f"# SA neighbourhoods on {len(images)} images ({out['date']})",
        "",
        f"digits CNN 28x28, test images {images}, t = 49, zeros reference, logits, le-mo, K = {out['iterations']}, "
        "T0 = 2, eta = 0.999, greedy LeRF start, incremental evaluation + cache, seed "
        f"{out['seed']}. Figure: `sa_neighbourhoods.png` (mean gain over the greedy start vs forward passes; "
        "a finished run keeps its final best; a dot marks where the longest run of a neighbourhood ended).",
        "",
        "| neighbourhood | mean final score | mean gain over greedy | best of the seven (images) "
        "| mean forward passes |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in out["rows"]:
        lines.append(
            f"| {row['neighbourhood']} | {row['mean_score']:.3f} | {row['mean_gain']:.3f} | "
            f"{row['best_of_seven']} / {len(images)} | {row['mean_forward_passes']:,.0f} |"
        )
    lines += [
        "",
        "Per image (final best score; the greedy start's score is the first entry of each run's history in the JSON):",
        "",
        "| image | greedy start | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for i, image in enumerate(images):
        lines.append(
            f"| {image} | {runs[names[0]][i]['history'][0][1]:.3f} | "
            + " | ".join(f"{runs[n][i]['score']:.3f}" for n in names)
            + " |"
        )
    lines.append("")
    write_result(out_dir, stem, out, "\n".join(lines), args=args, rerender=rerender)
    return "\n".join(lines)


def main(argv=None):
    ap = parser(__file__, __doc__.split("\n")[0], quick="image 1 only, K = 300 iterations (under a minute)")
    ap.add_argument("--images", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--iterations", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replot", action="store_true", help="redraw the figure and the table from the JSON only")
    args = parse(ap, argv)
    if args.quick:
        args.images, args.iterations = [1], 300
    if args.replot:
        write_outputs(read_result(args.out, args.stem), args.out, args.stem, rerender=True)
        return
    torch.set_num_threads(1)
    start = time.perf_counter()
    model = TimedModel(digits_cnn(28).eval())
    _, X_te, _, _ = load_digits_split(28)
    sa = {"iterations": args.iterations, "T0": 2.0, "eta": 0.999, "init": "greedy"}
    runs = {name: [] for name in SA_NEIGHBOURHOODS}
    for image in args.images:
        x = X_te[image]
        target = ModelOracle(model, x, None, features=7, pad_multiple=PAD).target
        for name in SA_NEIGHBOURHOODS:
            r = run_solver(model, x, target, "sa", {**sa, "neighbourhood": name}, seed=args.seed)
            r.pop("trajectory")
            r["image"], r["target"] = image, target
            runs[name].append(r)
            print(f"image {image} {name}: score {r['score']:.3f}, {r['forward_passes']} passes", flush=True)
    rows = []
    for name in SA_NEIGHBOURHOODS:
        finals = np.array([r["score"] for r in runs[name]])
        gains = np.array([r["score"] - r["history"][0][1] for r in runs[name]])
        best_count = sum(
            r["score"] >= max(runs[n][i]["score"] for n in SA_NEIGHBOURHOODS) - 1e-9 for i, r in enumerate(runs[name])
        )
        rows.append(
            {
                "neighbourhood": name,
                "mean_score": float(finals.mean()),
                "mean_gain": float(gains.mean()),
                "best_of_seven": int(best_count),
                "mean_forward_passes": float(np.mean([r["forward_passes"] for r in runs[name]])),
            }
        )
    out = {
        "command": args.command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "images": args.images,
        "iterations": args.iterations,
        "seed": args.seed,
        "rows": rows,
        "runs": {
            k: [{kk: r[kk] for kk in ("image", "target", "score", "forward_passes", "history")} for r in v]
            for k, v in runs.items()
        },
        "bench_seconds": time.perf_counter() - start,
    }
    print(write_outputs(out, args.out, args.stem, args=args))


if __name__ == "__main__":
    main()
