"""Filling the accelerator: one explanation vs many in lockstep, against the model's own throughput.

    .venv/bin/python bench/gpu.py                 # the GPU when there is one, else the CPU with smaller sizes
    .venv/bin/python bench/gpu.py --device cpu    # force the CPU settings

For two models, the shipped digits CNN 28 (1 x 28 x 28) and a ResNet-18 with random weights
(torchvision's when installed, else the same architecture defined below; 3 x 224 x 224 on a GPU,
3 x 64 x 64 on a CPU), on a 7 x 7 patch grid (t = 49), zeros reference, logits, le-mo, SA with T0 = 2,
eta = 0.999, complete transpositions, greedy start:

1. **the model's limit**: inputs per second of the model alone at batch 256 (and larger), per precision
   (fp32; on a GPU also TF32 and bf16 with channels_last), timed after a warm-up with the device
   synchronised;
2. one explanation: the paper's way (full re-evaluation, no cache), ``sa`` (incremental + cache) and
   ``sa-batch``, K iterations each;
3. ``explain_many`` in lockstep for N inputs (``sa``, same K, one seed), and the same N inputs solved one
   after the other (``sa``, the solo baseline): forward passes per second, as a fraction of the limit,
   and wall time per input against the solo runs.

Forward passes are unique masked inputs the model saw (what every run needs); passes/s divides them by
the run's wall time. Everything is measured in one process, side by side. The results go to
``bench/results/gpu[-cpu].{md,json}`` with the machine named. The package's pinned torch is not
required: the script runs on whatever torch the machine has.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from _harness import machine, machine_line, parse, parser, write_result

from solvers import get_solver
from trace_opt import ModelOracle, TraceProblem, explain
from trace_opt.explanation.lockstep import LockstepStats, explain_many
from trace_opt.models.data import digits_cnn, load_digits_split

SA = {"T0": 2.0, "eta": 0.999, "init": "greedy", "neighbourhood": "complete"}


# ----------------------------------------------------------------------------------- models
class _Block(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(cout)
        self.c2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(cout)
        self.down = (
            None
            if stride == 1 and cin == cout
            else torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        out = torch.relu(self.b1(self.c1(x)))
        out = self.b2(self.c2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(torch.nn.Module):
    """ResNet-18 (He et al. 2016) for 3-channel images, 1000 classes: torchvision's layout."""

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            torch.nn.BatchNorm2d(64),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(3, 2, 1),
        )
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
            cin = cout
        self.layers = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(512, n_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def resnet18():
    torch.manual_seed(0)
    try:
        import torchvision

        return torchvision.models.resnet18(weights=None).eval(), "torchvision resnet18 (random weights)"
    except ImportError:
        return ResNet18().eval(), "ResNet-18 defined in bench/gpu.py (random weights)"


# -------------------------------------------------------------------------------- measuring
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_limit(model, shape, device, batch, precision, seconds=2.0) -> float:
    """Inputs per second of the model alone at ``batch`` inputs per call."""
    x = torch.rand(batch, *shape, device=device)
    m = model
    if precision in ("bf16", "fp16") and len(shape) == 3:
        x = x.contiguous(memory_format=torch.channels_last)
        m = model.to(memory_format=torch.channels_last)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            for _ in range(3):
                m(x)
            sync(device)
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                m(x)
                n += 1
            sync(device)
            return n * batch / (time.perf_counter() - start)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        if m is not model:
            model.to(memory_format=torch.contiguous_format)


def one_search(model, x, device, solver, params, cache=True) -> dict:
    oracle = ModelOracle(model, x, None, features=7, device=device, batch_size=256, cache=cache)
    start = time.perf_counter()
    r = get_solver(solver, **params).solve(TraceProblem(oracle, "le-mo"), seed=0, curves=False)
    sync(device)
    wall = time.perf_counter() - start
    return {
        "forward_passes": r.forward_passes,
        "model_calls": r.batches,
        "wall_seconds": wall,
        "passes_per_second": r.forward_passes / wall,
        "score": r.score,
    }


def lockstep(model, X, device, K) -> dict:
    stats = LockstepStats()
    opts = dict(features=7, solver="sa", solver_options={**SA, "iterations": K}, seed=0, device=device, batch_size=256)
    start, cpu = time.perf_counter(), time.process_time()
    many = explain_many(model, X, stats=stats, **opts)
    sync(device)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    passes = sum(e.counters["forward_passes"] for e in many)
    return {
        "n": len(X),
        "forward_passes": passes,
        "model_calls": stats.model_calls,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "passes_per_second": passes / wall,
        "mean_inputs_per_call": stats.to_dict()["mean_inputs_per_call"],
        "scores": [float(e.score) for e in many],
    }


def solo_runs(model, X, device, K) -> dict:
    opts = dict(features=7, solver="sa", solver_options={**SA, "iterations": K}, seed=0, device=device, batch_size=256)
    start, cpu = time.perf_counter(), time.process_time()
    sols = [explain(model, x, **opts) for x in X]
    sync(device)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    passes = sum(e.counters["forward_passes"] for e in sols)
    return {
        "n": len(X),
        "forward_passes": passes,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "passes_per_second": passes / wall,
        "scores": [float(e.score) for e in sols],
    }


def precision_runs(model, X, device, K, precisions) -> dict:
    """Each precision's search on the same inputs: passes/s, and against the fp32 search the loss of the
    fp32 re-scored value (relative to fp32's) and the normalised Kendall distance of the trajectories."""
    from trace_opt import kendall_tau_distance

    opts = dict(features=7, solver="sa", solver_options={**SA, "iterations": K}, seed=0, device=device, batch_size=256)
    runs = {}
    for p in precisions:
        start = time.perf_counter()
        exps = [explain(model, x, precision=p, **opts) for x in X]
        sync(device)
        wall = time.perf_counter() - start
        runs[p] = {
            "exps": exps,
            "wall_seconds": wall,
            "passes_per_second": sum(e.result.forward_passes for e in exps) / wall,
        }
    base = runs["fp32"]["exps"]
    out = {}
    for p, r in runs.items():
        loss = [(b.value - e.value) / abs(b.value) for b, e in zip(base, r["exps"])]
        kendall = [kendall_tau_distance(b.trajectory, e.trajectory, normalised=True) for b, e in zip(base, r["exps"])]
        out[p] = {
            "passes_per_second": r["passes_per_second"],
            "wall_seconds": r["wall_seconds"],
            "speed_vs_fp32": r["passes_per_second"] / runs["fp32"]["passes_per_second"],
            "mean_relative_value_loss": float(np.mean(loss)),
            "max_relative_value_loss": float(np.max(loss)),
            "mean_kendall_distance": float(np.mean(kendall)),
            "n": len(X),
        }
    return out


def bench_model(name, model, X, device, cfg, log) -> dict:
    shape = tuple(X.shape[1:])
    precisions = ["fp32", "tf32", "bf16"] if device.type == "cuda" else ["fp32"]
    limits = {p: model_limit(model, shape, device, 256, p, cfg["limit_seconds"]) for p in precisions}
    by_batch = {b: model_limit(model, shape, device, b, "fp32", cfg["limit_seconds"]) for b in cfg["limit_batches"]}
    log(
        f"{name}: limit at batch 256 {', '.join(f'{p} {v:,.0f}/s' for p, v in limits.items())}; fp32 by batch "
        + ", ".join(f"{b}: {v:,.0f}/s" for b, v in by_batch.items())
    )
    K = cfg["K"][name]
    x0 = X[0]
    single = {
        "paper's way": one_search(model, x0, device, "sa", {**SA, "iterations": K, "evaluation": "full"}, cache=False),
        "sa": one_search(model, x0, device, "sa", {**SA, "iterations": K}),
        "sa-batch": one_search(model, x0, device, "sa-batch", {**SA, "iterations": K}),
    }
    for k, v in single.items():
        log(f"  {k}: {v['forward_passes']:,} passes, {v['passes_per_second']:,.0f}/s")
    groups = {}
    for n in cfg["lockstep"][name]:
        Xn = X[:n]
        ls = lockstep(model, Xn, device, K)
        solo = solo_runs(model, Xn[: cfg["solo_max"]], device, K)
        per_input_solo = solo["wall_seconds"] / solo["n"]
        per_input_ls = ls["wall_seconds"] / n
        groups[n] = {
            "lockstep": ls,
            "solo": solo,
            "speedup_per_input": per_input_solo / per_input_ls,
            "cpu_speedup_per_input": (solo["cpu_seconds"] / solo["n"]) / (ls["cpu_seconds"] / n),
            "fraction_of_limit": ls["passes_per_second"] / limits["fp32"],
        }
        log(
            f"  lockstep {n}: {ls['passes_per_second']:,.0f} passes/s ({100 * groups[n]['fraction_of_limit']:.0f}% of "
            f"the fp32 limit), {per_input_solo / per_input_ls:.2f}x per input vs {solo['n']} solo runs"
        )
    prec = precision_runs(model, X[: cfg["precision_n"]], device, K, cfg["precisions"])
    for p, v in prec.items():
        log(
            f"  precision {p}: {v['passes_per_second']:,.0f} passes/s ({v['speed_vs_fp32']:.2f}x fp32), value loss "
            f"{100 * v['mean_relative_value_loss']:+.3f}% mean, Kendall {v['mean_kendall_distance']:.3f}"
        )
    return {
        "shape": shape,
        "K": K,
        "limits": limits,
        "fp32_by_batch": by_batch,
        "single": single,
        "lockstep": groups,
        "precision": prec,
    }


def markdown(out) -> str:
    m = out["machine"]
    lines = [
        f"# Lockstep explanations against the model's throughput ({out['date']})",
        "",
        f"Machine: {m if isinstance(m, str) else machine_line(m)}; device {out['device']}"
        + (f" ({out['gpu']})" if out.get("gpu") else "")
        + f"; {out['threads']} torch thread(s).",
        "",
        "t = 49 (7 x 7 patches), zeros reference, logits, le-mo, SA T0 = 2, eta = 0.999, complete "
        "transpositions, greedy start, oracle batch_size 256. Passes/s = unique masked inputs per second "
        "of wall time. Lockstep: `explain_many` (every search's model calls shared); solo: the same "
        "inputs one after the other with `explain` (at most the first "
        f"{out['config']['solo_max']}), compared per input, in wall time and in this process's CPU time "
        "(on a shared CPU the robust measure: other jobs do not add to it).",
        "",
    ]
    for name, r in out["models"].items():
        lim = r["limits"]
        lines += [
            f"## {name} ({r['description']}), input {tuple(r['shape'])}, K = {r['K']:,}",
            "",
            "Model alone at batch 256: "
            + ", ".join(f"{p} {v:,.0f} inputs/s" for p, v in lim.items())
            + "; fp32 by batch size: "
            + ", ".join(f"{b}: {v:,.0f}/s" for b, v in r["fp32_by_batch"].items())
            + ". The % column is of the fp32 batch-256 figure.",
            "",
            "| run | forward passes | model calls | wall s | passes/s | % of fp32 limit | per input vs solo "
            "(wall) | per input vs solo (CPU time) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for k, v in r["single"].items():
            lines.append(
                f"| {k} (one input) | {v['forward_passes']:,} | {v['model_calls']:,} | {v['wall_seconds']:.2f} | "
                f"{v['passes_per_second']:,.0f} | {100 * v['passes_per_second'] / lim['fp32']:.1f}% | | |"
            )
        for n, g in r["lockstep"].items():
            ls, solo = g["lockstep"], g["solo"]
            lines.append(
                f"| solo `sa`, {solo['n']} inputs one by one | {solo['forward_passes']:,} | | "
                f"{solo['wall_seconds']:.2f} | {solo['passes_per_second']:,.0f} | "
                f"{100 * solo['passes_per_second'] / lim['fp32']:.1f}% | 1.00x | 1.00x |"
            )
            lines.append(
                f"| lockstep `sa`, {n} inputs | {ls['forward_passes']:,} | {ls['model_calls']:,} | "
                f"{ls['wall_seconds']:.2f} | {ls['passes_per_second']:,.0f} | "
                f"{100 * g['fraction_of_limit']:.1f}% | {g['speedup_per_input']:.2f}x | "
                f"**{g['cpu_speedup_per_input']:.2f}x** |"
            )
        lines += [
            "",
            f"Search precision (`explain(precision=...)`, {r['precision']['fp32']['n']} inputs, values re-scored in "
            "fp32; loss = (fp32 search's value - this search's value) / |fp32 value|, positive = worse; Kendall = "
            "normalised Kendall tau distance to the fp32 search's trajectory):",
            "",
            "| precision | passes/s | vs fp32 | mean value loss | max value loss | mean Kendall distance |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for p, v in r["precision"].items():
            lines.append(
                f"| {p} | {v['passes_per_second']:,.0f} | {v['speed_vs_fp32']:.2f}x | "
                f"{100 * v['mean_relative_value_loss']:+.3f}% | {100 * v['max_relative_value_loss']:+.3f}% | "
                f"{v['mean_kendall_distance']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = parser(
        __file__,
        __doc__.split("\n")[0],
        quick="K 200 / 20, one lockstep group of 4 inputs, short throughput timings (about a minute on a CPU)",
    )
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.set_defaults(stem=None)  # gpu, or gpu-cpu on a CPU
    args = parse(ap, argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    cfg = {
        "K": {"digits CNN 28": 10_000 if gpu else 1_000, "ResNet-18": 2_000 if gpu else 60},
        "lockstep": {"digits CNN 28": [16, 64, 256] if gpu else [4, 16], "ResNet-18": [16, 64] if gpu else [4]},
        "solo_max": 16 if gpu else 4,
        "limit_seconds": 2.0 if gpu else 1.0,
        "limit_batches": [64, 1024, 4096] if gpu else [4, 16, 64],
        "precisions": ["fp32", "tf32", "bf16"] if gpu else ["fp32", "bf16"],
        "precision_n": 8 if gpu else 3,
    }
    if args.quick:
        cfg.update(
            {
                "K": {"digits CNN 28": 200, "ResNet-18": 20},
                "lockstep": {"digits CNN 28": [4], "ResNet-18": [4]},
                "solo_max": 4,
                "limit_seconds": 0.3,
                "limit_batches": [16],
                "precision_n": 2,
            }
        )
    if args.stem is None:
        args.stem = "gpu" if gpu else "gpu-cpu"
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    start = time.perf_counter()
    models = {}
    cnn = digits_cnn(28).eval().to(device)
    _, X_te, _, _ = load_digits_split(28)
    n_max = max(cfg["lockstep"]["digits CNN 28"])
    models["digits CNN 28"] = {
        **bench_model("digits CNN 28", cnn, X_te[:n_max], device, cfg, log),
        "description": f"weights: {cnn.weights_source}",
    }
    net, desc = resnet18()
    net = net.to(device)
    side = 224 if gpu else 32
    n_max = max(cfg["lockstep"]["ResNet-18"])
    Xr = torch.rand(n_max, 3, side, side, generator=torch.Generator().manual_seed(0))
    models["ResNet-18"] = {**bench_model("ResNet-18", net, Xr, device, cfg, log), "description": desc}
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": args.command,
        "machine": machine(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if gpu else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": cfg,
        "models": models,
        "bench_seconds": time.perf_counter() - start,
    }
    out = json.loads(json.dumps(out, default=str))
    write_result(args.out, args.stem, out, markdown(out), args=args)
    print(markdown(out))


if __name__ == "__main__":
    main()
