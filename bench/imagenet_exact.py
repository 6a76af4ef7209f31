"""Exact optima of TRACE on the real ImageNet network: EfficientNet-Lite0 on bundled photos at t = 16 (4 x 4 grid,
224 px, the paper's blur), all 2^16 deletion sets tabulated once for both outputs.

One forward pass per set gives the target's logit and its log-softmax, so the logit and probability tables cost
65,536 passes per photo together. Each table is saved as a benchmark instance (``instances/imagenet/``: exact
optima, CS bounds and difficulty measures, ``trace_opt.benchmarks.instances``), so any solver runs on it at memory
speed with an exact optimality gap. Resumable: a photo whose two instances exist is skipped.

Beside each optimum: the best exact set-function attribution ranking of the same table (Shapley, Banzhaf,
occlusion, leave-one-in, ``trace_opt.benchmarks.margin``: what an attribution method could reach if it knew D
exactly) and the additivity R^2 of D, so the margin of the optimum over attribution rankings is measured where it
comes from: the interactions of D, not the noise of an estimator.

    OMP_NUM_THREADS=1 python bench/imagenet_exact.py --grid 3x4 --photos chelsea coffee   # t = 12: ~6 min a photo
    OMP_NUM_THREADS=1 python bench/imagenet_exact.py --photos chelsea coffee   # t = 16: ~90 min a photo here
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _harness import ROOT, parse, parser, write_result

from solvers.complete import complete_table
from trace_opt.benchmarks.instances import instance_from_table, load_instance, save_instance
from trace_opt.benchmarks.margin import margin
from trace_opt.core.features import grid_features
from trace_opt.core.problem import TraceProblem
from trace_opt.models.imagenet import efficientnet_lite0, imagenet_class_names
from trace_opt.models.oracles import make_oracle
from trace_opt.models.photos import load_photo_input

LIBRARY = ROOT / "instances" / "imagenet"


class _TargetLogitAndLogProb(torch.nn.Module):
    """The model with its output cut to the target's logit; the target's log-softmax of every row it computed is
    kept, in order, in ``log_probs`` (the oracle evaluates the table's sets in key order, uncached)."""

    def __init__(self, model, target: int):
        super().__init__()
        self.model, self.target, self.log_probs = model, target, []

    def forward(self, x):
        z = self.model(x)
        self.log_probs.append(torch.log_softmax(z.double(), dim=1)[:, self.target].cpu().numpy())
        return z[:, self.target : self.target + 1]


def _grid(text: str) -> tuple:
    parts = [int(p) for p in str(text).lower().split("x")]
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def tabulate(model, photo_name: str, grid: tuple, reference: str, batch_size: int, progress: bool) -> dict:
    photo, x = load_photo_input(photo_name)
    with torch.inference_mode():
        target = int(model(x[None]).argmax(1))
    wrapped = _TargetLogitAndLogProb(model, target).eval()
    feats = grid_features(tuple(x.shape[-2:]), grid)
    oracle = make_oracle(
        wrapped, x, 0, features=feats, reference=reference, output="logit", batch_size=batch_size, cache=False
    )
    wrapped.log_probs.clear()  # the probe pass on x (D({})) is not a table row
    start = time.perf_counter()
    logit = complete_table(TraceProblem(oracle, "le"), progress=progress)
    seconds = time.perf_counter() - start
    log_prob = np.concatenate(wrapped.log_probs)
    if len(log_prob) != len(logit):
        raise RuntimeError(
            f"{len(log_prob)} log-probabilities for {len(logit)} sets: the oracle did not evaluate "
            "every set once, in order"
        )
    meta = {
        "model": "efficientnet-lite0",
        "photo": photo_name,
        "target": target,
        "class": imagenet_class_names()[target],
        "reference": reference,
        "features": {"kind": "grid", "t": feats.t, "grid": list(grid)},
        "input_size": 224,
        "forward_passes": int(oracle.forward_passes),
        "seconds": seconds,
    }
    arrays = {"x": x.numpy().astype(np.float32), "feature_ids": feats.ids.astype(np.int64)}
    out = {}
    for output, table in (("logit", logit), ("prob", np.exp(log_prob))):
        name = f"efficientnet-lite0_{photo_name}_g{grid[0]}x{grid[1]}_{output}_{reference}"
        inst = instance_from_table(table, name, {**meta, "output": output}, arrays)
        save_instance(inst, LIBRARY / name)
        out[output] = inst
    return out


def main(argv=None) -> int:
    ap = parser(__file__, quick="a 2 x 2 grid of chelsea (16 sets)", stem="imagenet_exact")
    ap.add_argument("--photos", nargs="+", default=["chelsea", "coffee"])
    ap.add_argument("--grid", default="4", help="G (G x G) or RxC (default 4: t = 16)")
    ap.add_argument("--reference", default="paper_blur")
    ap.add_argument("--batch-size", type=int, default=16, help="16: the fastest on this CPU (1.9x batch 64)")
    ap.add_argument("--no-progress", action="store_true")
    args = parse(ap, argv)
    torch.set_num_threads(1)
    grid, photos = ((2, 2), ["chelsea"]) if args.quick else (_grid(args.grid), args.photos)
    model = efficientnet_lite0()
    rows = []
    for photo in photos:
        paths = {
            o: LIBRARY / f"efficientnet-lite0_{photo}_g{grid[0]}x{grid[1]}_{o}_{args.reference}.json"
            for o in ("logit", "prob")
        }
        if all(p.exists() for p in paths.values()):
            insts = {o: load_instance(p) for o, p in paths.items()}
        else:
            insts = tabulate(model, photo, grid, args.reference, args.batch_size, not args.no_progress)
        for o, inst in insts.items():
            obj = inst.objectives["le-mo"]
            m = margin(np.asarray(inst.values, dtype=np.float64), objectives=("le-mo",))
            lm = m["objectives"]["le-mo"]
            rows.append(
                {
                    "photo": photo,
                    "output": o,
                    "t": inst.t,
                    "class": inst.metadata["class"],
                    "optimum_le_mo": obj["optimum"],
                    "bound_le_mo": obj.get("bound"),
                    "seconds": inst.metadata.get("seconds"),
                    "forward_passes": inst.metadata.get("forward_passes"),
                    "r2": m["r2"],
                    "ranking_scores_le_mo": lm["scores"],
                    "best_ranking": lm["best"],
                    "best_ranking_le_mo": lm["best_score"],
                    "optimum_over_best_ranking": lm["ratio"],
                }
            )
        print(rows[-2:], flush=True)
    md = [
        "# Exact TRACE-(Le-Mo) optima on EfficientNet-Lite0",
        "",
        f"{grid[0]} x {grid[1]} grid (t = {grid[0] * grid[1]}) at 224 px, reference `{args.reference}`, "
        "target = the predicted "
        "class; one table of 2^t forward passes per photo serves the logit and the probability.",
        "",
        "Best exact ranking: the best, on Le-Mo, of the exact Shapley, Banzhaf (= first-order least-squares fit), "
        "occlusion (leave-one-out) and leave-one-in attributions of the same table, each sorted ascending "
        "(`trace_opt.benchmarks.margin`); optimum / ranking is the paper's plain ratio of Le-Mo AUCs (a random "
        "order scores 0 on Le-Mo). R^2(D): the share of the variance of D over all 2^t sets that an additive "
        "model explains (`trace_opt.benchmarks.difficulty.additivity`; 1 = additive, where every ranking is "
        "optimal).",
        "",
        "| photo | class | output | optimum Le-Mo | per-level bound | best exact ranking | its Le-Mo "
        "| optimum / ranking | R^2(D) | passes | seconds |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    md += [
        f"| {r['photo']} | {r['class']} | {r['output']} | {r['optimum_le_mo']:.6g} | "
        f"{r['bound_le_mo'] if r['bound_le_mo'] is None else format(r['bound_le_mo'], '.6g')} | "
        f"{r['best_ranking']} | {r['best_ranking_le_mo']:.6g} | {r['optimum_over_best_ranking']:.3f} | {r['r2']:.3f} | "
        f"{r['forward_passes']} | {r['seconds'] if r['seconds'] is None else format(r['seconds'], '.0f')} |"
        for r in rows
    ]
    for o in ("logit", "prob"):
        sel = [r for r in rows if r["output"] == o]
        opt = np.mean([r["optimum_le_mo"] for r in sel])
        best = np.mean([r["best_ranking_le_mo"] for r in sel])
        md.append(
            f"\n{o}: mean optimum {opt:.4g} over mean best exact ranking {best:.4g} = {opt / best:.3f}x "
            f"(n = {len(sel)} photos); R^2(D) {min(r['r2'] for r in sel):.2f}-{max(r['r2'] for r in sel):.2f}."
        )
    md.append(
        "\nSeconds: the time the table took when it was computed (on a CPU shared with other jobs where it "
        "ran beside them); a rerun reads the saved instances."
    )
    write_result(
        args.out, args.stem, {"rows": rows, "grid": list(grid), "reference": args.reference}, "\n".join(md), args=args
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
