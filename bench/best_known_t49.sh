#!/usr/bin/env bash
# Best-known solutions at t = 49 (no table, no known optimum) for the hard family's generator:
# each run replaces instances/best_known/<name>.best.json only when it beats the stored score.
# Rerun (or add solvers / budgets / seeds) to improve them. From the repository root:
#   bash bench/best_known_t49.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
for seed in 0 1 2 3; do
  f=instances/best_known/logic_t49_i0.6_o3_sat1_s000${seed}.best.json
  for solver in greedy sa tabu window-dp; do
    $PY -m trace_opt instances best-known --file "$f" --family logic --t 49 --problem-seed "$seed" \
        --interaction 0.6 --order 3 --saturation 1 --solver "$solver" --budget 20000 --seed 0 --certify-window 6
  done
done
