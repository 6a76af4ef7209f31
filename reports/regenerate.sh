#!/usr/bin/env bash
# Regenerate every committed evaluation report (about 16 minutes on 2 cores; each command resumes
# from its folder's cache/, so an interrupted run loses only the input it was working on).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m trace_opt evaluate --dataset digits8 --n 50 --out reports/digits8-t16 --sa-iterations 2000 --seed 0 --sanity-n 3
"$PY" -m trace_opt evaluate --dataset digits28 --n 8 --out reports/digits28-t49 --sa-iterations 2000 --seed 0 --sanity-n 2 --sanity-sa-iterations 1000
"$PY" -m trace_opt evaluate --dataset breast-cancer --n 60 --out reports/breast-cancer-mlp --sa-iterations 2000 --seed 0 --sanity-n 3
"$PY" -m trace_opt evaluate --dataset breast-cancer-sklearn --n 20 --out reports/breast-cancer-sklearn --sa-iterations 2000 --seed 0 --sanity-n 0
"$PY" -c "from trace_opt.attribution.ground_truth import write_ground_truth_report; write_ground_truth_report('reports/ground-truth')"
"$PY" - <<'PY'
from trace_opt.attribution.report import index_markdown
print(index_markdown(["reports/digits8-t16", "reports/digits28-t49", "reports/breast-cancer-mlp",
                      "reports/breast-cancer-sklearn"]))
PY
