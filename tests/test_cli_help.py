"""The command line's help is fast: building the parser imports no torch, numba or optuna, and the choices it
shows (repeated in trace_opt/cli/_choices.py for that reason) equal the library's own constants."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from trace_opt.cli import build_parser; p = build_parser(); "
        "[a.choices[c].format_help() for a in p._actions if a.dest == 'command' for c in a.choices]; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numba', 'optuna', 'solvers', "
        "'matplotlib', 'sklearn', 'captum'}); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    out = subprocess.run([sys.executable, "-m", "trace_opt", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "evaluate" in out.stdout and "explain-dataset" in out.stdout


def test_parser_choices_equal_the_library_constants():
    from trace_opt.benchmarks.families import FAMILIES, KINDS
    from trace_opt.benchmarks.model_sources import FEATURE_KINDS, MODELS, RULES
    from trace_opt.benchmarks.tuning import SEARCH_SPACES
    from trace_opt.cli import _choices as c
    from trace_opt.comparison.report import DATASETS
    from trace_opt.core.objective import OBJECTIVES
    from trace_opt.core.table import MAX_T
    from trace_opt.models.text import TEXT_MODELS

    assert c.OBJECTIVES == tuple(OBJECTIVES) and c.MAX_T == MAX_T and c.DATASETS == tuple(DATASETS)
    assert c.FAMILIES == tuple(sorted(FAMILIES)) and c.KINDS == tuple(KINDS)
    assert c.MODELS == tuple(MODELS) and c.FEATURE_KINDS == tuple(FEATURE_KINDS) and c.RULES == tuple(RULES)
    assert c.SEARCH_SPACES == tuple(sorted(SEARCH_SPACES)) and c.TEXT_MODELS == tuple(TEXT_MODELS)
