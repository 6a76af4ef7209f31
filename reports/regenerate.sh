#!/usr/bin/env bash
# Regenerate every committed evaluation report, the ImageNet ones only with IMAGENET=1 (below) (the others: about
# 16 minutes on 2 cores; each command resumes
# from its folder's cache/, so an interrupted run loses only the input it was working on).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m trace_opt evaluate --dataset digits8 --n 50 --out reports/digits8-t16 --sa-iterations 2000 --seed 0 --sanity-n 3
"$PY" -m trace_opt evaluate --dataset digits28 --n 8 --out reports/digits28-t49 --sa-iterations 2000 --seed 0 --sanity-n 2 --sanity-sa-iterations 1000
"$PY" -m trace_opt evaluate --dataset breast-cancer --n 60 --out reports/breast-cancer-mlp --sa-iterations 2000 --seed 0 --sanity-n 3
"$PY" -m trace_opt evaluate --dataset breast-cancer-sklearn --n 20 --out reports/breast-cancer-sklearn --sa-iterations 2000 --seed 0 --sanity-n 0
"$PY" -c "from trace_opt.faithfulness.ground_truth import write_ground_truth_report; write_ground_truth_report('reports/ground-truth')"
"$PY" - <<'PY'
from trace_opt.comparison.report import index_markdown
print(index_markdown(["reports/digits8-t16", "reports/digits28-t49", "reports/breast-cancer-mlp",
                      "reports/breast-cancer-sklearn"]))
PY
# The ImageNet reports (EfficientNet-Lite0 on the bundled photos) only with IMAGENET=1: about 70 minutes for
# t = 49 with blur, 95 with zeros and about 30 for t = 16 (4 photos) (which reuses the 65,536-set tables of instances/imagenet/,
# made by bench/imagenet_exact.py) on one CPU thread, measured on a CPU shared with other jobs; the commands are the ones their report.md records.
if [ "${IMAGENET:-0}" = 1 ]; then
  export OMP_NUM_THREADS=1
  "$PY" -m trace_opt evaluate --model efficientnet-lite0 --data imagenet-photos --features 7 --reference paper_blur --n 8 --out reports/imagenet-t49-blur --sa-iterations 2000 --seed 0 --sanity-n 0 --solver surrogate --budget 2000 --batch-size 16 --trace-objectives le-mo --no-several-t --methods saliency input-x-gradient integrated-gradients grad-cam iba extremal-perturbation rise-pixel occlusion feature-ablation guided-backprop deeplift random --exact-max-t 0 --threads 1
  "$PY" -m trace_opt evaluate --model efficientnet-lite0 --data imagenet-photos --features 7 --reference zeros --n 8 --out reports/imagenet-t49-zeros --sa-iterations 2000 --seed 0 --sanity-n 0 --solver surrogate --budget 2000 --batch-size 16 --trace-objectives le-mo --no-several-t --methods saliency input-x-gradient integrated-gradients grad-cam iba extremal-perturbation rise-pixel occlusion feature-ablation guided-backprop deeplift random --exact-max-t 0 --threads 1
  "$PY" -m trace_opt evaluate --model efficientnet-lite0 --data imagenet-photos --features 4 --reference paper_blur --n 4 --out reports/imagenet-t16-blur --sa-iterations 2000 --seed 0 --sanity-n 0 --solver surrogate --budget 2000 --batch-size 16 --trace-objectives le-mo --no-several-t --methods saliency input-x-gradient integrated-gradients grad-cam iba extremal-perturbation rise-pixel occlusion feature-ablation guided-backprop deeplift random --exact-max-t 16 --tables instances/imagenet --threads 1
fi
