"""A fixed set of solves whose trajectories, scores, counters and histories must not change under a
refactoring: every registered solver x 3 objectives x problems (synthetic set functions and tables of
instances/sample) x 3 seeds x 2 budgets, on exact oracles (float64 numpy, no model).

    python bench/regression_solves.py --out runs --stem solves_before
    python bench/regression_solves.py --out runs --stem solves_after --compare runs/solves_before.json

``--compare`` prints how many solves are identical and exits 1 on any difference. The JSON holds the solves
under ``solves`` (a JSON written before the harness, the solves alone, is read as well).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from _harness import parse, parser, write_result

from solvers import get_solver
from trace_opt.core.oracle import SetFunctionOracle
from trace_opt.core.problem import TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction

SOLVERS = ("greedy", "sa", "sa-batch", "tabu", "ga", "beam", "window-dp", "exact")
OBJECTIVES = ("le", "mo", "le-mo")
SEEDS = (0, 1, 2)
BUDGETS = (150, 1500)


def problems():
    """(name, oracle factory): synthetic functions at t = 8, 10, 12 and the sample library's tables."""
    out = []
    for t, seed, inter in ((8, 0, 0.5), (10, 1, 1.0), (12, 2, 0.3)):
        fn = SyntheticSetFunction(t=t, seed=seed, width=4, interaction=inter)
        out.append((f"synthetic-t{t}-s{seed}", lambda fn=fn: SetFunctionOracle(fn, fn.t)))
    sample = Path(__file__).resolve().parents[1] / "instances" / "sample"
    from trace_opt.core.table import TableOracle

    try:
        from trace_opt.benchmarks.instances import load_instance
    except ImportError:  # the layout before the regrouping
        from trace_opt.instances import load_instance
    for path in sorted(sample.glob("*.json"))[:4]:
        inst = load_instance(path)
        out.append((path.stem, lambda inst=inst: TableOracle(inst.values)))
    return out


def run_all() -> dict:
    records = {}
    for pname, make in problems():
        for solver in SOLVERS:
            for objective in OBJECTIVES:
                for seed in SEEDS:
                    for budget in BUDGETS:
                        oracle = make()
                        if solver == "exact" and (1 << oracle.t) > budget:
                            continue
                        res = get_solver(solver).solve(TraceProblem(oracle, objective), budget=budget, seed=seed)
                        d = {
                            "trajectory": res.trajectory.tolist(),
                            "score": float(res.score),
                            "forward_passes": res.forward_passes,
                            "batches": res.batches,
                            "cache_hits": res.cache_hits,
                            "iterations": res.iterations,
                            "stopped": res.stopped,
                            "history": [[int(f), float(s)] for f, s in res.history],
                        }
                        records[f"{pname}|{solver}|{objective}|{seed}|{budget}"] = d
    return records


def main(argv=None) -> int:
    ap = parser(__file__, __doc__.splitlines()[0])
    ap.add_argument("--compare", default=None, help="a JSON of an earlier run: exit 1 unless every solve is identical")
    args = parse(ap, argv)
    records = run_all()
    digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
    md = [
        f"# Regression solves: {len(records)} solves, digest `{digest}`",
        "",
        f"Solvers {', '.join(SOLVERS)}; objectives {', '.join(OBJECTIVES)}; seeds {SEEDS}; budgets {BUDGETS}; "
        f"problems: {', '.join(name for name, _ in problems())}.",
    ]
    write_result(
        args.out, args.stem, {"digest": digest, "solves": dict(sorted(records.items()))}, "\n".join(md), args=args
    )
    print(f"{len(records)} solves, digest {digest}")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        before = before.get("solves", before)
        same = sum(1 for k in before if records.get(k) == before[k])
        diff = sorted(k for k in set(before) | set(records) if records.get(k) != before.get(k))
        print(f"{same} of {len(before)} solves identical; {len(diff)} differ")
        for k in diff[:20]:
            print("  differs:", k)
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
