"""Quality per forward pass on the real network: EfficientNet-Lite0, bundled photos, the paper's blur, le-mo.

    .venv/bin/python bench/imagenet_search.py                          # the committed study (t = 49, logit)
    .venv/bin/python bench/imagenet_search.py --output prob --photos chelsea,coffee,astronaut,rocket
    .venv/bin/python bench/imagenet_search.py --grid 10 --photos chelsea,coffee,astronaut,rocket --long 0
    .venv/bin/python bench/imagenet_search.py --report                 # table and figure from the JSON only

Every solve is a run of one solver with one budget and seed on one photo's problem (predicted class, a G x G
grid of patches, ``paper_blur``). Its forward passes are counted as a live oracle counts them (unique sets of
that solve); the values come from a memo of the model kept per problem under ``runs/memo/`` (``bench/_memo.py``)
so that sets shared by several solves run the model once. The model runs through ONNX Runtime (fp32; it agrees
with torch to ~1e-5 on logits, ``trace_opt.models.backends``) when it is installed, else torch; one CPU thread.

Runs (``SPECS``): a solver whose path does not depend on its budget above the cost of its start (window-dp from
a greedy or lazy-greedy start: the budget only cuts it) runs once with the largest budget, and its best-so-far
history gives the value at every smaller budget at or above its start's cost; below that, and for solvers that
plan with their budget (the surrogate's design share), each budget is its own solve.

Outputs (``--out``, default ``bench/results``; stem ``imagenet_search_g<G>_<output>``): the JSON of every solve
(resumable: a finished solve is skipped when the command runs again), a Markdown table (value / best known per
solver and budget: median, min and max over photos; which photos reach greedy's full value; passes to reach
99 %, 99.9 % and 100 % of the best known) and a figure. The best known per photo (the best of every solve, the
long runs included) is written to ``instances/best_known/imagenet/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from _harness import machine, machine_line, parse, parser
from _memo import MemoOracle, MemoStore

from solvers import get_solver
from trace_opt import ModelOracle, TraceProblem
from trace_opt.core.io import atomic_savefig, atomic_write_bytes, atomic_write_json
from trace_opt.models.imagenet import efficientnet_lite0, imagenet_class_names
from trace_opt.models.photos import load_photo_input

#: photos the defaults were chosen on (start, tail rebuild, window, candidates); the others are held out
CHOOSING = ("chelsea", "coffee", "astronaut", "rocket")
HELD_OUT = ("motorcycle_left", "china", "flower", "motorcycle_right")
BUDGETS = (500, 1000, 2000, 5000, 10000, 20000)
LEVELS = (0.99, 0.999, 1.0)
RTOL = 1e-9
BEST_DIR = Path("instances/best_known/imagenet")

#: name -> (solver, options, budgets run as separate solves, the budget of the one solve whose history gives
#: every larger budget from its start's cost up). ``ils`` is the explain command's default.
SPECS = {
    "ils": ("ils", {}, (500, 1000), 5000),
    "greedy": ("greedy", {}, (), None),
    "window-dp": ("window-dp", {}, (500, 1000, 2000), 10000),
    "surrogate": ("surrogate", {}, (500, 2000), None),
    # the default before issue 28's first descent with width-4 windows (ils's path at and above 1,000 passes
    # before that change; its 20,000-pass runs are among the searches of the best known)
    "ils-w5": ("ils", {"first_window": None}, (1000,), 10000),
    # the surrogate before its checks were batched (check_batch=1 is that solver bit for bit)
    "surrogate-unbatched": ("surrogate", {"check_batch": 1}, (500, 2000, 5000), None),
}
#: the long runs for the best known (>= 20,000 passes, two different searches); they replace the spec's
#: long budget (their histories give its value at 10,000)
LONG = {"ils-w5": 20000, "window-dp": 20000}
#: the explain command's default search
DEFAULT = "ils"


def oracle_for(photo: str, grid: int, output: str, model, backend: str) -> tuple[MemoStore, dict]:
    _, x = load_photo_input(photo)
    live = ModelOracle(model, x, None, features=grid, reference="paper_blur", output=output, batch_size=16)
    config = {
        "model": "efficientnet-lite0",
        "photo": photo,
        "grid": grid,
        "reference": "paper_blur",
        "output": output,
        "backend": backend,
        "batch_size": 16,
    }
    store = MemoStore(live, Path("runs/memo") / f"{photo}_g{grid}_{output}_paper_blur_{backend}.npz", config)
    return store, {"target": live.target, "class": imagenet_class_names()[live.target]}


def solve(store: MemoStore, solver: str, options: dict, budget: int | None, seed: int) -> dict:
    oracle = MemoOracle(store)
    problem = TraceProblem(oracle, "le-mo")
    start = time.perf_counter()
    r = get_solver(solver, **options).solve(problem, budget=budget, seed=seed, curves=False)
    return {
        "value": r.value,
        "forward_passes": r.forward_passes,
        "calls": r.batches,
        "trajectory": r.trajectory.tolist(),
        "history": [[int(f), float(v)] for f, v in r.history],
        "stopped": r.stopped,
        "seconds": time.perf_counter() - start,
        "start": r.info.get("start"),
    }


def value_at(run: dict, budget: int) -> float | None:
    """The best value a run had found within ``budget`` passes (its history), None before its first."""
    seen = [v for f, v in run["history"] if f <= budget]
    return max(seen) if seen else None


def main(argv=None) -> dict:
    ap = parser(__file__, stem="-")
    ap.add_argument("--photos", default=",".join(CHOOSING + HELD_OUT))
    ap.add_argument("--grid", type=int, default=7)
    ap.add_argument("--output", default="logit", choices=["logit", "prob"])
    ap.add_argument("--long", type=int, default=20000, help="passes of the long runs (0: none)")
    ap.add_argument("--specs", default=",".join(SPECS), help="which runs of SPECS")
    ap.add_argument("--report", action="store_true", help="only the table and figure from the JSON")
    ap.add_argument(
        "--merge",
        nargs="*",
        default=[],
        type=Path,
        help="JSON files of the same study run elsewhere (e.g. other photos in a second process, "
        "--stem NAME) whose solves join this one's",
    )
    ns = parse(ap, argv)
    stem = f"imagenet_search_g{ns.grid}_{ns.output}" if ns.stem == "-" else ns.stem
    path = Path(ns.out) / f"{stem}.json"
    data = json.loads(path.read_text()) if path.exists() else {"solves": {}, "photos": {}}
    for other in ns.merge:
        more = json.loads(other.read_text())
        data["solves"].update(more["solves"])
        data["photos"].update(more["photos"])
        data.setdefault("merged", []).append({"file": str(other), "command": more.get("command")})
    photos = [p for p in ns.photos.split(",") if p]
    specs = [s for s in ns.specs.split(",") if s]
    if not ns.report:
        torch.set_num_threads(1)
        try:
            from trace_opt.models.backends import with_backend

            model = with_backend(efficientnet_lite0(), "onnxruntime", torch.zeros(3, 224, 224))
            backend = "onnxruntime"
        except ValueError:
            model, backend = efficientnet_lite0(), "torch"
        for photo in photos:
            store, facts = oracle_for(photo, ns.grid, ns.output, model, backend)
            data["photos"][photo] = {**facts, "backend": backend, "t": store.live.t}
            for name in specs:
                solver, options, separate, long_budget = SPECS[name]
                if ns.long and name in LONG:
                    long_budget = LONG[name]
                budgets = (
                    list(separate) + ([long_budget] if long_budget else []) + ([None] if solver == "greedy" else [])
                )
                for budget in budgets:
                    key = f"{photo}|{name}|{budget}|0"
                    if key in data["solves"]:
                        continue
                    data["solves"][key] = {
                        "photo": photo,
                        "spec": name,
                        "solver": solver,
                        "options": options,
                        "budget": budget,
                        "seed": 0,
                        **solve(store, solver, options, budget, 0),
                    }
                    print(
                        f"{photo} {name} @{budget}: {data['solves'][key]['value']:.2f} "
                        f"({data['solves'][key]['forward_passes']} passes)",
                        flush=True,
                    )
                    store.save()
                    atomic_write_json(path, data)
        data["machine"] = machine()
        data["command"] = ns.command
    atomic_write_json(path, data)
    write_best_known(data, ns.grid, ns.output)
    md = report(data, ns.grid, ns.output, photos, specs, Path(ns.out) / f"{stem}.png")
    atomic_write_bytes(Path(ns.out) / f"{stem}.md", md.encode())
    print(md)
    return data


def best_of(data: dict, photo: str) -> dict:
    runs = [r for r in data["solves"].values() if r["photo"] == photo]
    return max(runs, key=lambda r: r["value"])


def write_best_known(data: dict, grid: int, output: str) -> None:
    for photo, facts in data["photos"].items():
        best = best_of(data, photo)
        searches = sorted(
            {
                (r["spec"], r["budget"])
                for r in data["solves"].values()
                if r["photo"] == photo and (r["budget"] or 0) >= 20000
            },
            key=str,
        )
        doc = {
            "format": "trace-best-known-imagenet",
            "model": "efficientnet-lite0",
            "photo": photo,
            "grid": grid,
            "t": facts["t"],
            "reference": "paper_blur",
            "output": output,
            "objective": "le-mo",
            "target": facts["target"],
            "class": facts["class"],
            "backend": facts["backend"],
            "best": {
                "value": best["value"],
                "trajectory": best["trajectory"],
                "found_by": best["spec"],
                "solver": best["solver"],
                "options": best["options"],
                "budget": best["budget"],
                "forward_passes": best["forward_passes"],
            },
            "long_runs": [{"spec": s, "budget": b} for s, b in searches],
            "values_by_run": {
                f"{r['spec']}@{r['budget']}": r["value"] for r in data["solves"].values() if r["photo"] == photo
            },
        }
        atomic_write_json(BEST_DIR / f"efficientnet-lite0_{photo}_g{grid}x{grid}_{output}_paper_blur.best.json", doc)


def value_table(data: dict, photos: list, specs: list) -> dict:
    """{spec: {budget: [value / best known per photo]}} from separate solves and long runs' histories."""
    table: dict = {}
    for name in specs:
        for budget in BUDGETS:
            ratios = []
            for photo in photos:
                best = best_of(data, photo)["value"]
                runs = [r for r in data["solves"].values() if r["photo"] == photo and r["spec"] == name]
                exact = [r for r in runs if r["budget"] == budget]
                if exact:
                    v = exact[0]["value"]
                elif name == "greedy":
                    v = runs[0]["value"] if runs and runs[0]["forward_passes"] <= budget else None
                else:  # the long solve's history, when its path does not depend on the budget at this budget
                    separate = SPECS[name][2]
                    longer = [
                        r for r in runs if r["budget"] and r["budget"] > budget and budget > max(separate, default=0)
                    ]
                    v = value_at(longer[0], budget) if longer else None
                ratios.append(None if v is None else v / best)
            table.setdefault(name, {})[budget] = ratios
    return table


def passes_to_reach(data: dict, photo: str, name: str, level: float) -> int | None:
    best = best_of(data, photo)["value"]
    runs = [r for r in data["solves"].values() if r["photo"] == photo and r["spec"] == name]
    if not runs:
        return None
    run = max(runs, key=lambda r: r["budget"] or 0)
    for f, v in run["history"]:
        if v >= level * best - RTOL * abs(best):
            return f
    return None


def report(data: dict, grid: int, output: str, photos: list, specs: list, figure: Path) -> str:
    photos = [p for p in photos if p in data["photos"]]
    table = value_table(data, photos, specs)
    greedy = {
        p: next((r["value"] for r in data["solves"].values() if r["photo"] == p and r["spec"] == "greedy"), None)
        for p in photos
    }
    t = grid * grid
    lines = [
        f"# Search on EfficientNet-Lite0 at t = {t} ({grid} x {grid} grid), paper blur, {output}, le-mo\n",
        f"Photos: {', '.join(photos)} "
        f"(defaults chosen on {', '.join(p for p in photos if p in CHOOSING) or 'none of them'}; "
        f"held out: {', '.join(p for p in photos if p not in CHOOSING) or 'none'}). Seed 0; one CPU thread; values "
        "from a memo of the model (each solve's passes counted as a live oracle counts them). The best known is "
        "the best of every solve below"
        + (
            " (no long runs here: it is only as good as the longest of them)"
            if not any((r["budget"] or 0) >= 20000 for r in data["solves"].values())
            else ", the long runs of 20,000 passes included"
        )
        + ".\n",
        "## Value / best known (median [min, max] over photos; - where the solver has no result at that budget)\n",
        "| search | " + " | ".join(f"{b:,}" for b in BUDGETS) + " |",
        "|---|" + "---:|" * len(BUDGETS),
    ]
    for name in specs:
        cells = []
        for b in BUDGETS:
            r = [x for x in table[name][b] if x is not None]
            cells.append("-" if not r or len(r) < len(photos) else f"{np.median(r):.4f} [{min(r):.4f}, {max(r):.4f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Per photo: best known, greedy's full run, and the default ({DEFAULT}) at 2,000 and 5,000 passes\n",
        "| photo | class | best known | found by | greedy (passes) | default @2,000 | >= greedy | default @5,000 |",
        "|---|---|---:|---|---:|---:|---|---:|",
    ]
    for p in photos:
        best = best_of(data, p)
        g = next((r for r in data["solves"].values() if r["photo"] == p and r["spec"] == "greedy"), None)
        d2 = table.get(DEFAULT, {}).get(2000, [None] * len(photos))[photos.index(p)]
        d5 = table.get(DEFAULT, {}).get(5000, [None] * len(photos))[photos.index(p)]
        v2 = None if d2 is None else d2 * best["value"]
        cell_g = "-" if g is None else f"{g['value']:.2f} ({g['forward_passes']:,})"
        cell_2 = "-" if v2 is None else f"{v2:.2f}"
        cell_ok = "-" if v2 is None or g is None else ("yes" if v2 >= g["value"] else "no")
        cell_5 = "-" if d5 is None else f"{d5 * best['value']:.2f}"
        lines.append(
            f"| {p} | {data['photos'][p]['class']} | {best['value']:.2f} | {best['spec']}@{best['budget']} | "
            f"{cell_g} | {cell_2} | {cell_ok} | {cell_5} |"
        )
    held = [p for p in photos if p not in CHOOSING]
    if held and DEFAULT in table:
        lines += [
            "",
            f"## The default ({DEFAULT}) on the held-out photos only ({', '.join(held)})\n",
            "| budget | value / best known: median [min, max] | >= greedy's full run |",
            "|---:|---|---|",
        ]
        for b in BUDGETS:
            r = [table[DEFAULT][b][photos.index(p)] for p in held]
            if any(x is None for x in r):
                continue
            beats = sum(
                r[i] * best_of(data, p)["value"] >= (greedy[p] if greedy[p] is not None else np.inf)
                for i, p in enumerate(held)
            )
            lines.append(f"| {b:,} | {np.median(r):.4f} [{min(r):.4f}, {max(r):.4f}] | {beats} of {len(held)} |")
    lines += [
        "",
        "## Passes to reach a share of the best known (median over photos; its longest solve's history)\n",
        "| search | " + " | ".join(f"{lv:.1%}" for lv in LEVELS) + " |",
        "|---|" + "---:|" * len(LEVELS),
    ]
    for name in specs:
        cells = []
        for lv in LEVELS:
            reached = [passes_to_reach(data, p, name, lv) for p in photos]
            ok = [x for x in reached if x is not None]
            cells.append(
                f"{int(np.median(ok)):,} ({len(ok)}/{len(photos)})"
                if len(ok) * 2 > len(photos)
                else f"- ({len(ok)}/{len(photos)})"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    calls = {
        name: [
            r["forward_passes"] / r["calls"]
            for r in data["solves"].values()
            if r["spec"] == name and r["photo"] in photos and r.get("calls")
        ]
        for name in specs
    }
    if any(calls.values()):
        lines += [
            "",
            "## Model calls: forward passes per call (median [min, max] over the solves that record their calls)\n",
            "| search | passes / call | solves |",
            "|---|---:|---:|",
        ]
        for name, per in calls.items():
            if per:
                lines.append(f"| {name} | {np.median(per):.1f} [{min(per):.1f}, {max(per):.1f}] | {len(per)} |")
    draw(table, specs, photos, figure, t, output, data)
    lines += [
        "",
        f"![value / best known against forward passes]({figure.name})",
        "",
        "---",
        "",
        f"- command: `{data.get('command', '?')}`",
        f"- machine: {machine_line(data.get('machine'))}",
        "",
    ]
    return "\n".join(lines)


def draw(table: dict, specs: list, photos: list, figure: Path, t: int, output: str, data: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in specs:
        if name == "greedy":  # one run of fixed cost: a point at its passes, the bar its range over photos
            runs = [r for r in data["solves"].values() if r["spec"] == "greedy" and r["photo"] in photos]
            if len(runs) == len(photos):
                ratios = [r["value"] / best_of(data, r["photo"])["value"] for r in runs]
                x = float(np.median([r["forward_passes"] for r in runs]))
                med = float(np.median(ratios))
                ax.errorbar(
                    [x],
                    [med],
                    yerr=[[med - min(ratios)], [max(ratios) - med]],
                    fmt="s",
                    color="k",
                    capsize=3,
                    label=f"greedy (full run, {int(x):,} passes)",
                )
            continue
        xs, med, lo, hi = [], [], [], []
        for b in BUDGETS:
            r = [x for x in table[name][b] if x is not None]
            if len(r) == len(photos) and r:
                xs.append(b)
                med.append(np.median(r))
                lo.append(min(r))
                hi.append(max(r))
        if xs:
            ax.plot(xs, med, marker="o", label=name)
            ax.fill_between(xs, lo, hi, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("forward passes (budget)")
    ax.set_ylabel("value / best known\n(median; band: min-max over photos)", fontsize=8)
    ax.set_title(f"EfficientNet-Lite0, t = {t}, paper blur, {output}, le-mo ({len(photos)} photos)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, figure)
    plt.close(fig)


if __name__ == "__main__":
    main()
