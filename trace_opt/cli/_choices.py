"""The choices the commands' parsers show, named here so that building the parser (``--help``) imports no
torch, numba or optuna. Each is the library's own constant repeated; ``tests/test_cli_help.py`` checks that
every one equals its source, so they cannot drift apart."""

OBJECTIVES = ("le", "mo", "le-mo")  # trace_opt.core.objective.OBJECTIVES
MAX_T = 24  # trace_opt.core.table.MAX_T
FAMILIES = ("chunks", "logic")  # sorted(trace_opt.benchmarks.families.FAMILIES)
KINDS = ("and", "or", "xor")  # trace_opt.benchmarks.families.KINDS
MODELS = ("digits-cnn8", "digits-cnn28", "logic-digits", "breast-cancer-mlp")  # benchmarks.model_sources.MODELS
FEATURE_KINDS = ("grid", "superpixels")  # trace_opt.benchmarks.model_sources.FEATURE_KINDS
RULES = ("xor", "and", "or")  # trace_opt.benchmarks.model_sources.RULES
SEARCH_SPACES = (
    "beam",
    "ga",
    "greedy",
    "sa",
    "sa-batch",
    "tabu",
    "window-dp",
)  # sorted(benchmarks.tuning.SEARCH_SPACES)
DATASETS = ("digits8", "digits28", "breast-cancer", "breast-cancer-sklearn")  # comparison.report.DATASETS
TEXT_MODELS = ("vader", "langid")  # trace_opt.models.text.TEXT_MODELS
