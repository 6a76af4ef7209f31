#!/usr/bin/env bash
# Instance libraries, solver leaderboards and an Optuna study of SA, from the digits CNN (8x8).
#
#   bash bench/instances_tuning.sh       # writes bench/results/leaderboard{,_prob}.{md,json,png}
#                                        # and bench/results/tuning_sa{,_b3000}/ (study.db, best_params, holdout, plots)
#
# Libraries (not committed, rebuilt in minutes): 8 test digits at 4x4 patches (t = 16) and 2 at
# 4x5 (t = 20), once on logits and once on probabilities, with the reference "mean" (every deleted
# pixel set to the image's mean). With "zeros" many border patches of a digit are all zero, so
# deleting them never changes D: a t = 16 table then had only ~2,048 distinct values and greedy alone
# was optimal in 90% of runs. With "mean" every feature matters (each instance's metadata.table
# records distinct_values and effective_t; the leaderboard header shows their range).
#
# Leaderboards: every solver at 300 / 1,000 / 3,000 / 10,000 forward passes, seeds 0 and 1. Greedy
# le-mo costs about t(t+1) passes (272 at t = 16, 420 at t = 20), and the local searches start from
# it, so 300 is "greedy just fits at t = 16, not at t = 20" and the larger budgets show what the
# search adds after the greedy start.
# Study: SA tuned on the even-numbered probability instances at 1,000 forward passes (seeds 0, 1, 2;
# 40 trials, median pruner), then default and tuned SA compared on the odd-numbered (held-out) ones
# (tuning_sa/holdout.{json,md}: means, paired difference, verdict); the same at 3,000 passes in
# tuning_sa_b3000/. Rerunning resumes: existing instances are kept and each study.db is continued,
# not restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LIB=${LIB:-runs/instances}
REF=${REF:-mean}
BUDGETS=(300 1000 3000 10000)

"$PY" -m trace_opt instances build --out "$LIB/digits8-$REF" --reference "$REF" --output logit
"$PY" -m trace_opt instances build --out "$LIB/digits8-$REF-prob" --reference "$REF" --output prob
"$PY" -m trace_opt instances verify "$LIB/digits8-$REF"
"$PY" -m trace_opt instances verify "$LIB/digits8-$REF-prob"
"$PY" -m trace_opt instances leaderboard --library "$LIB/digits8-$REF" --budgets "${BUDGETS[@]}" \
    --out bench/results --stem leaderboard
"$PY" -m trace_opt instances leaderboard --library "$LIB/digits8-$REF-prob" --budgets "${BUDGETS[@]}" \
    --out bench/results --stem leaderboard_prob
"$PY" -m trace_opt tune --solver sa --library "$LIB/digits8-$REF-prob" --budget 1000 --trials 40 --seeds 0 1 2 \
    --holdout-every 2 --storage "sqlite:///bench/results/tuning_sa/study.db" --out bench/results/tuning_sa
# the same study at 3,000 passes per solve (greedy alone takes ~270-420 of the 1,000 above)
"$PY" -m trace_opt tune --solver sa --library "$LIB/digits8-$REF-prob" --budget 3000 --trials 40 --seeds 0 1 2 \
    --holdout-every 2 --storage "sqlite:///bench/results/tuning_sa_b3000/study.db" --out bench/results/tuning_sa_b3000
