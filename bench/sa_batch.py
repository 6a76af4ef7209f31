"""Batched speculative proposals (``sa-batch``): what the batch width buys, at the paper's setting.

    .venv/bin/python bench/sa_batch.py              # writes bench/results/sa_batch.{md,json}
                                                    # (--replot: md from the JSON)
    .venv/bin/python bench/sa_batch.py --threads 2  # the same on 2 torch threads: sa_batch_threads2.{md,json}

Same setting as ``bench/sa_paper.py`` (digits CNN 28x28, image 0, t = 49, le-mo, logits, K = 10,000,
complete transpositions, greedy start, one torch thread (``--threads``), model calls padded to a multiple of 4 by
the oracle (``pad_multiple``; on the machine that wrote the results this made values independent of
the batch split, which is a property of its CPU kernels, not a guarantee), oracle ``batch_size`` 128).
Sequential ``sa``
against ``sa-batch`` with several widths, adaptive or fixed. Every run must follow the same
trajectory; reported: forward passes (speculation costs extra), oracle requests, model calls, wall
time and wall time per forward pass, and the share of this process's CPU time outside the model call.
"""

from __future__ import annotations

import time

import torch
from _harness import parse, parser, read_result, write_result
from _problems import PAD, TimedModel, run_solver

from trace_opt import ModelOracle
from trace_opt.models.data import digits_cnn, load_digits_split

CONFIGS = [
    ("sa", {}),
    ("sa-batch", {"width": 4}),
    ("sa-batch", {"width": 16}),
    ("sa-batch", {"width": 64}),
    ("sa-batch", {"width": 256}),
    ("sa-batch", {"width": 16, "adaptive": False}),
]


def markdown(out) -> str:
    rows, base = out["rows"], out["rows"][0]
    lines = [
        f"# Batched speculative proposals ({out['date']})",
        "",
        f"digits CNN 28x28, image {out['image']} (class {out['target']}), t = 49, le-mo, logits, "
        f"K = {out['iterations']}, complete transpositions, greedy start, oracle batch_size 128 (a request larger "
        "than that is several model calls), model calls padded to a multiple of 4 by the oracle (the CNN's time "
        f"on padding inputs is model time), {out.get('threads', 1)} torch thread(s). "
        "CPU outside model: share of this process's CPU "
        "time spent outside the CNN's call (robust to other jobs on the machine).",
        "",
        "| run | same trajectory | forward passes | extra passes | model calls | mean proposals/request | "
        "wall s | wall us/pass | CPU outside model |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mp = "1" if r["mean_proposals"] is None else f"{r['mean_proposals']:.1f}"
        lines.append(
            f"| {r['name']} | {r['same_trajectory']} | {r['forward_passes']:,} | "
            f"{100 * (r['forward_passes'] / base['forward_passes'] - 1):.1f}% | {r['model_calls']:,} | {mp} | "
            f"{r['wall_seconds']:.1f} | {1e6 * r['wall_seconds'] / r['forward_passes']:.0f} | "
            f"{100 * (1 - r['model_cpu_seconds'] / r['cpu_seconds']):.1f}% |"
        )
    fastest = min(rows, key=lambda r: r["wall_seconds"])
    batched = [r for r in rows if r is not base]
    best = min(batched, key=lambda r: r["wall_seconds"])
    lines += [
        "",
        f"Fastest in wall time: {fastest['name']} ({fastest['wall_seconds']:.1f} s). Best `sa-batch`: "
        f"{best['name']}, {base['wall_seconds'] / best['wall_seconds']:.2f}x the speed of `sa`"
        + (
            " (slower: with the oracle's per-call overhead small, fewer model calls do not pay for the "
            f"speculative forward passes on {out.get('threads', 1)} CPU thread(s))."
            if best["wall_seconds"] > base["wall_seconds"]
            else "."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = parser(__file__, __doc__.split("\n")[0], quick="K = 300 iterations (under a minute)")
    ap.add_argument("--iterations", type=int, default=10_000)
    ap.add_argument("--image", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads of the model (default 1)")
    ap.add_argument("--replot", action="store_true", help="rewrite the table from the JSON only")
    ap.set_defaults(stem=None)  # sa_batch, or sa_batch_threadsN for --threads N > 1
    args = parse(ap, argv)
    if args.stem is None:
        args.stem = "sa_batch" if args.threads == 1 else f"sa_batch_threads{args.threads}"
    if args.quick:
        args.iterations = 300
    if args.replot:
        out = read_result(args.out, args.stem)
        write_result(args.out, args.stem, out, markdown(out), rerender=True)
        return
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = TimedModel(digits_cnn(28).eval())
    _, X_te, _, _ = load_digits_split(28)
    x = X_te[args.image]
    target = ModelOracle(model, x, None, features=7, pad_multiple=PAD).target
    sa = {"iterations": args.iterations, "T0": 2.0, "eta": 0.999, "init": "greedy"}
    rows, ref = [], None
    for solver, extra in CONFIGS:
        r = run_solver(model, x, target, solver, {**sa, **extra})
        if ref is None:
            ref = r
        same = r["trajectory"] == ref["trajectory"] and [v for _, v in r["history"]] == [v for _, v in ref["history"]]
        name = (
            solver
            if not extra
            else f"{solver} width={extra['width']}" + ("" if extra.get("adaptive", True) else " fixed")
        )
        rows.append(
            {
                "name": name,
                "same_trajectory": same,
                "forward_passes": r["forward_passes"],
                "requests": r["requests"],
                "model_calls": r["batches"],
                "mean_proposals": r["mean_batch"],
                "wall_seconds": r["wall_seconds"],
                "cpu_seconds": r["cpu_seconds"],
                "model_cpu_seconds": r["model_cpu_seconds"],
                "score": r["score"],
            }
        )
        print(rows[-1], flush=True)
    out = {
        "command": args.command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "image": args.image,
        "target": target,
        "iterations": args.iterations,
        "threads": args.threads,
        "rows": rows,
        "bench_seconds": time.perf_counter() - start,
    }
    write_result(args.out, args.stem, out, markdown(out), args=args)
    print(markdown(out))


if __name__ == "__main__":
    main()
