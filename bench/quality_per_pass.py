"""Quality per forward pass: best value against forward passes for every solver, on real t = 49 problems.

    .venv/bin/python bench/quality_per_pass.py                       # the committed configuration
    .venv/bin/python bench/quality_per_pass.py --images 0-15 --seeds 0-4 --budgets 500,1000,2000,5000,10000,20000
    .venv/bin/python bench/quality_per_pass.py --output prob --out runs/qpp_prob
    .venv/bin/python bench/quality_per_pass.py --best-known instances/best_known/*.best.json --out runs/qpp_logic
    .venv/bin/python bench/quality_per_pass.py --replot              # table and figure from the JSON only

Setting: ``trace_opt.models.data.digits_cnn(28)`` (shipped weights), test images of
``load_digits_split(28)`` and their predicted class, a 7 x 7 grid of 4 x 4 patches (t = 49), zeros
reference, logits (``--output``), le-mo, torch on one thread, model calls padded to a multiple of 4 (as
``bench/sa_paper.py``). With ``--best-known`` the problems are instead the synthetic families of the given
best-known files (``trace_opt.benchmarks.best_known``), measured against their stored best.

1. **Reference** per problem: window-dp (default options, seed 0) with ``--reference-budget`` passes (the
   issue's yardstick: 100,000); the best known value is the best of the reference and of every run below.
2. **Budgets**: every solver (``--solvers``) is run with each budget of ``--budgets`` on every image and seed:
   one solve per budget, since solvers plan with their budget (the surrogate's design, the small-budget
   start, the polishing share). Table: median and quartiles over images x seeds of value / best known, and
   how often the reference value is reached (1e-4 relative).
3. **Passes to reach** 99 %, 99.9 % and 100 % (1e-4 relative) of the best known, read from the history of
   each solver's largest-budget run (median over images x seeds; "-" when fewer than half reach it).
4. **Goal** (issue 20): ``surrogate`` with a budget of 2,000 on ``--goal-images``: images among 0-3 on
   which it reaches the reference value (to 1e-4 relative), and the median over the goal images of
   value / reference.

Resumable: every finished solve is written to the JSON at once and skipped when the same command runs
again (keyed by problem, solver, budget and seed). Cost: about sum(budgets) x solvers x images x seeds
forward passes (~200 us each on one CPU thread here) plus the solvers' own time, and ``--reference-budget``
passes per problem.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from _harness import machine, machine_line, parse, parser

from solvers import get_solver
from trace_opt.core.io import atomic_savefig, atomic_write_bytes, atomic_write_json

SOLVERS = ["surrogate", "window-dp", "sa", "tabu", "ga", "greedy"]
BUDGETS = [500, 1000, 2000, 5000, 10000, 20000]
LEVELS = (0.99, 0.999, 1.0)
RTOL = 1e-4
PAD = 4


def parse_list(text: str) -> list[int]:
    """``"0-3,8"`` -> [0, 1, 2, 3, 8]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


class Problems:
    """Builds a fresh problem (new oracle, empty cache) by name."""

    def __init__(self, output: str, best_known: list[str]):
        self.output = output
        self.best_known = {}
        self._digits = None
        for f in best_known:
            from trace_opt.benchmarks.best_known import load_best_known

            data = load_best_known(f, check_score=False)
            self.best_known[f"{data['name']}"] = data

    def digits(self):
        if self._digits is None:
            import torch

            from trace_opt.models.data import digits_cnn, load_digits_split

            torch.set_num_threads(1)
            cnn = digits_cnn(28, weights="shipped").eval()
            _, X_te, _, _ = load_digits_split(28)
            self._digits = (cnn, X_te)
        return self._digits

    def make(self, name: str):
        from trace_opt import ModelOracle, TraceProblem

        if name.startswith("table:"):  # an instance of a library (exact 2^t table, e.g. instances/imagenet/)
            from trace_opt.benchmarks.instances import load_instance
            from trace_opt.core.table import TableOracle

            return TraceProblem(TableOracle(load_instance(name[len("table:") :]).values), "le-mo")
        if name in self.best_known:
            from trace_opt.benchmarks.best_known import make_problem

            data = self.best_known[name]
            return make_problem(data["problem"], data["objective"])
        cnn, X = self.digits()
        image = int(name.rsplit("img", 1)[1])
        oracle = ModelOracle(
            cnn, X[image], None, features=7, reference="zeros", output=self.output, batch_size=128, pad_multiple=PAD
        )
        return TraceProblem(oracle, "le-mo")

    def stored_best(self, name: str):
        if name.startswith("table:"):  # the exact optimum
            from trace_opt.benchmarks.instances import load_instance

            return float(load_instance(name[len("table:") :]).optimum("le-mo"))
        data = self.best_known.get(name)
        return None if data is None else float(data["best"]["score"])


def solve(problems: Problems, name: str, solver: str, budget: int, seed: int) -> dict:
    problem = problems.make(name)
    start, cpu = time.perf_counter(), time.process_time()
    res = get_solver(solver).solve(problem, budget=budget, seed=seed, curves=False)
    return {
        "problem": name,
        "solver": solver,
        "budget": budget,
        "seed": seed,
        "score": res.score,
        "value": res.value,
        "forward_passes": res.forward_passes,
        "stopped": res.stopped,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "history": [[int(f), float(s)] for f, s in res.history],
        "start": res.info.get("start"),
        "trajectory": res.trajectory.tolist(),
    }


def run_key(name, solver, budget, seed) -> str:
    return f"{name}|{solver}|{budget}|{seed}"


def passes_to_reach(history, target: float) -> int | None:
    for f, s in history:
        if s >= target:
            return int(f)
    return None


def level_target(best: float, level: float) -> float:
    """The score reaching ``level`` of ``best`` (1.0: within RTOL relative)."""
    if level >= 1.0:
        return best - RTOL * abs(best)
    return best - (1.0 - level) * abs(best)


def summarise(out: dict) -> dict:
    runs = list(out["runs"].values())
    names = sorted({r["problem"] for r in runs} | set(out["references"]))
    best = {}
    for n in names:
        vals = [r["score"] for r in runs if r["problem"] == n]
        ref = out["references"].get(n)
        if ref is not None:
            vals.append(ref["score"])
        best[n] = max(vals) if vals else None
    solvers = [s for s in out["setting"]["solvers"] if any(r["solver"] == s for r in runs)]
    budgets = sorted({r["budget"] for r in runs})
    table = {}
    for s in solvers:
        for b in budgets:
            rs = [
                r for r in runs if r["solver"] == s and r["budget"] == b and r["problem"] in out["setting"]["problems"]
            ]
            if not rs:
                continue
            ratio = np.array([r["score"] / best[r["problem"]] for r in rs])
            refs = [out["references"].get(r["problem"]) for r in rs]
            reached = [r["score"] >= ref["score"] - RTOL * abs(ref["score"]) for r, ref in zip(rs, refs) if ref]
            table[f"{s}|{b}"] = {
                "solver": s,
                "budget": b,
                "n": len(rs),
                "median": float(np.median(ratio)),
                "q1": float(np.quantile(ratio, 0.25)),
                "q3": float(np.quantile(ratio, 0.75)),
                "min": float(ratio.min()),
                "reached_reference": int(sum(reached)),
                "median_passes": float(np.median([r["forward_passes"] for r in rs])),
            }
    reach = {}
    top = max(budgets) if budgets else None
    for s in solvers:
        rs = [r for r in runs if r["solver"] == s and r["budget"] == top and r["problem"] in out["setting"]["problems"]]
        row = {}
        for level in LEVELS:
            need = [passes_to_reach(r["history"], level_target(best[r["problem"]], level)) for r in rs]
            got = sorted(n for n in need if n is not None)
            # the median over all runs, counting a run that never reached it as infinite
            row[str(level)] = got[len(need) // 2] if len(got) > len(need) // 2 else None
            row[f"{level}_reached"] = len(got)
        row["n"] = len(rs)
        reach[s] = row
    return {"best_known": best, "table": table, "reach": reach, "budgets": budgets, "solvers": solvers}


def goal_summary(out: dict) -> dict | None:
    goal = out.get("goal_runs", {})
    if not goal:
        return None
    rows = []
    for r in goal.values():
        ref = out["references"].get(r["problem"])
        if ref is None:
            continue
        rows.append(
            {
                "problem": r["problem"],
                "seed": r["seed"],
                "value": r["value"],
                "reference": ref["value"],
                "ratio": r["score"] / ref["score"],
                "reached": bool(r["score"] >= ref["score"] - RTOL * abs(ref["score"])),
                "forward_passes": r["forward_passes"],
            }
        )
    first4 = sorted({r["problem"] for r in rows if r["reached"] and int(r["problem"].rsplit("img", 1)[1]) <= 3})
    seeds = sorted({r["seed"] for r in rows})
    per_seed = {}
    for s in seeds:
        rs = [r for r in rows if r["seed"] == s]
        per_seed[s] = {
            "reached_0_3": sum(r["reached"] for r in rs if int(r["problem"].rsplit("img", 1)[1]) <= 3),
            "median_ratio": float(np.median([r["ratio"] for r in rs])),
            "n": len(rs),
            "reached": sum(r["reached"] for r in rs),
        }
    return {
        "rows": sorted(rows, key=lambda r: (r["seed"], problem_order(r["problem"]))),
        "per_seed": per_seed,
        "median_ratio": float(np.median([r["ratio"] for r in rows])) if rows else None,
        "images_0_3_reached_any_seed": first4,
    }


def figure(out: dict, summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for s in summary["solvers"]:
        rows = [summary["table"][f"{s}|{b}"] for b in summary["budgets"] if f"{s}|{b}" in summary["table"]]
        b = [r["budget"] for r in rows]
        for ax in axes:
            (line,) = ax.plot(b, [r["median"] for r in rows], marker="o", label=s)
            ax.fill_between(b, [r["q1"] for r in rows], [r["q3"] for r in rows], color=line.get_color(), alpha=0.15)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("forward-pass budget")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value / best known (median, quartile band)")
    axes[0].set_title("all budgets")
    axes[1].set_ylim(0.99, 1.0005)
    axes[1].axhline(0.999, color="grey", lw=0.8, ls=":")
    axes[1].set_title("zoom: 99 % to 100 %")
    axes[1].legend(fontsize=8)
    fig.suptitle(out["setting"]["description"], fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def problem_order(name: str):
    head, _, num = name.rpartition("img")
    return (head, int(num)) if num.isdigit() else (name, 0)


def fmt(v, nd=4):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown(out: dict, summary: dict, goal: dict | None) -> str:
    st = out["setting"]
    lines = [
        f"# Quality per forward pass ({st['date']})",
        "",
        f"Command: `{st['command']}`",
        "",
        st["description"],
        "",
        f"Problems: {len(st['problems'])}; seeds {st['seeds']}; solvers with default options; one solve per "
        f"budget. Reference: window-dp with {st['reference_budget']:,} passes (seed 0). Best known = best of the "
        "reference and every run. Values are le-mo scores; ratios are value / best known.",
        "",
        "## Value against budget (median [quartiles] of value / best known; reached = runs that reach the "
        "reference value to 1e-4 relative)",
        "",
    ]
    budgets = summary["budgets"]
    lines.append("| solver | " + " | ".join(f"{b:,}" for b in budgets) + " |")
    lines.append("|---|" + "---:|" * len(budgets))
    for s in summary["solvers"]:
        cells = []
        for b in budgets:
            r = summary["table"].get(f"{s}|{b}")
            cells.append(
                ""
                if r is None
                else f"{r['median']:.5f} [{r['q1']:.4f}, {r['q3']:.4f}] ({r['reached_reference']}/{r['n']})"
            )
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    top = max(budgets) if budgets else 0
    lines += [
        "",
        f"## Forward passes to reach a share of the best known (largest-budget run, {top:,} passes; "
        "median over runs, '-' when fewer than half reach it; in brackets the runs that reach it)",
        "",
        "| solver | 99 % | 99.9 % | 100 % (1e-4) |",
        "|---|---:|---:|---:|",
    ]
    for s in summary["solvers"]:
        r = summary["reach"][s]
        cells = [
            f"{'-' if r[str(lv)] is None else format(r[str(lv)], ',')} ({r[f'{lv}_reached']}/{r['n']})" for lv in LEVELS
        ]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Reference values (window-dp, " + f"{st['reference_budget']:,} passes):", ""]
    lines.append("| problem | reference | best known |")
    lines.append("|---|---:|---:|")
    for n, ref in sorted(out["references"].items(), key=lambda kv: problem_order(kv[0])):
        lines.append(f"| {n} | {ref['value']:.4f} | {fmt(summary['best_known'].get(n))} |")
    if goal:
        lines += ["", "## Goal: `surrogate` with 2,000 passes", ""]
        for s, g in goal["per_seed"].items():
            lines.append(
                f"- seed {s}: reference reached on {g['reached_0_3']} of images 0-3, {g['reached']} of "
                f"{g['n']} goal images; median value / reference {g['median_ratio']:.5f}"
            )
        lines.append(
            f"- all seeds: median value / reference **{goal['median_ratio']:.5f}**; images 0-3 reached by "
            f"at least one seed: {goal['images_0_3_reached_any_seed']}"
        )
        lines += [
            "",
            "| problem | seed | value | reference | ratio | reached | passes |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for r in goal["rows"]:
            lines.append(
                f"| {r['problem']} | {r['seed']} | {r['value']:.4f} | {r['reference']:.4f} | "
                f"{r['ratio']:.5f} | {'yes' if r['reached'] else 'no'} | {r['forward_passes']:,} |"
            )
    lines += [
        "",
        f"Machine: {machine_line(st['machine'])}; total solver wall time {out.get('wall_seconds', 0):.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = parser(__file__)
    ap.add_argument("--images", default="0-3", help="test images of the benchmark (e.g. 0-3,8)")
    ap.add_argument("--goal-images", default="0-15", help="images of the goal study (surrogate, 2,000 passes)")
    ap.add_argument("--goal-seeds", default="0", help="seeds of the goal study")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--output", default="logit", choices=["logit", "prob", "log_prob"])
    ap.add_argument("--reference-budget", type=int, default=100_000)
    ap.add_argument("--best-known", nargs="*", default=[], help="best-known files: run their problems instead")
    ap.add_argument(
        "--tables",
        nargs="*",
        default=[],
        help="instance files (exact 2^t tables, e.g. "
        "instances/imagenet/*.json): run their problems instead, against their exact optima",
    )
    ap.add_argument("--no-goal", action="store_true", help="skip the goal study")
    ap.add_argument("--rerun", action="store_true", help="drop the stored runs (keep the references) and run again")
    ap.add_argument(
        "--rerun-solvers",
        default="",
        help="drop the stored runs of these solvers (comma-separated; "
        "the goal study's too for surrogate) and run them again",
    )
    ap.add_argument("--replot", action="store_true", help="redraw the table and figure from the JSON only")
    args = parse(ap, argv)
    base = Path(args.out) / args.stem
    json_path = base.with_suffix(".json")
    if args.replot:
        out = json.loads(json_path.read_text())
    else:
        problems = Problems(args.output, args.best_known)
        if args.tables:
            names = [f"table:{p}" for p in args.tables]
            desc = (
                f"Exact instances ({', '.join(Path(p).stem for p in args.tables)}), le-mo, against their exact "
                "optima (table oracles: forward passes counted as for the model)."
            )
            goal_names = []
        elif args.best_known:
            names = list(problems.best_known)
            desc = (
                f"Synthetic best-known problems ({', '.join(names)}), le-mo, against their stored best "
                f"(and window-dp with {args.reference_budget:,} passes)."
            )
            goal_names = [] if args.no_goal else []
        else:
            names = [f"digits28-img{i}" for i in parse_list(args.images)]
            goal_names = [] if args.no_goal else [f"digits28-img{i}" for i in parse_list(args.goal_images)]
            desc = (
                f"digits CNN-28 (shipped weights), t = 49 (7 x 7 patches), zeros reference, {args.output}, le-mo, "
                "target = predicted class, torch on 1 thread."
            )
        setting = {
            "command": args.command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "description": desc,
            "problems": names,
            "goal_problems": goal_names,
            "seeds": parse_list(args.seeds),
            "budgets": parse_list(args.budgets),
            "solvers": args.solvers.split(","),
            "output": args.output,
            "reference_budget": args.reference_budget,
            "machine": machine(),
        }
        out = json.loads(json_path.read_text()) if json_path.exists() else {}
        if out.get("setting", {}).get("output") != args.output:
            out = {}
        if args.rerun:
            out.pop("runs", None)
            out.pop("goal_runs", None)
        for name in filter(None, args.rerun_solvers.split(",")):
            for store in ("runs", "goal_runs"):
                out[store] = {k: v for k, v in out.get(store, {}).items() if k.split("|")[1] != name}
        out.setdefault("references", {})
        out.setdefault("runs", {})
        out.setdefault("goal_runs", {})
        out["setting"] = setting
        wall = out.get("wall_seconds", 0.0)

        def save():
            out["wall_seconds"] = wall
            atomic_write_json(json_path, out)

        for n in dict.fromkeys(names + goal_names):
            if n in out["references"]:
                continue
            t0 = time.perf_counter()
            r = solve(problems, n, "window-dp", args.reference_budget, 0)
            stored = problems.stored_best(n)
            if stored is not None and stored > r["score"]:
                r["score"] = r["value"] = stored
                r["source"] = "best-known file"
            out["references"][n] = r
            wall += time.perf_counter() - t0
            print(f"reference {n}: {r['value']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            save()
        for seed in setting["seeds"]:
            for n in names:
                for s in setting["solvers"]:
                    for b in setting["budgets"]:
                        key = run_key(n, s, b, seed)
                        if key in out["runs"]:
                            continue
                        t0 = time.perf_counter()
                        out["runs"][key] = r = solve(problems, n, s, b, seed)
                        wall += time.perf_counter() - t0
                        print(
                            f"{key}: {r['value']:.4f} ({r['forward_passes']} passes, {time.perf_counter() - t0:.1f} s)",
                            flush=True,
                        )
                        save()
        for seed in parse_list(args.goal_seeds):
            for n in goal_names:
                key = run_key(n, "surrogate", 2000, seed)
                if key in out["goal_runs"]:
                    continue
                t0 = time.perf_counter()
                out["goal_runs"][key] = r = out["runs"].get(key) or solve(problems, n, "surrogate", 2000, seed)
                wall += time.perf_counter() - t0
                print(f"goal {key}: {r['value']:.4f}", flush=True)
                save()
        save()
    summary = summarise(out)
    goal = goal_summary(out)
    out_md = markdown(out, summary, goal)
    atomic_write_bytes(base.with_suffix(".md"), out_md.encode())
    figure(out, summary, base.with_suffix(".png"))
    print(out_md)
    if not args.replot:
        atomic_write_json(json_path, {**out, "summary": summary, "goal": goal})


if __name__ == "__main__":
    main()
