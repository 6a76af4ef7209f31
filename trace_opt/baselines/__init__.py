"""Attribution baselines: methods that score features, turned into trajectories, behind one tagged registry.

Modules: ``methods`` (the registry, ``attribute``, Captum's methods, RISE on the feature grid, a seeded
Random) and ``paper`` (the paper's IBA, Extremal Perturbation, Excitation Backprop, pixel-level RISE).

How to add a baseline: write ``fn(inp: AttributionInput, **options)`` returning an input-shaped map or
``FeatureScores`` (one score per feature), higher = more important, reproducible from ``inp.seed``; register it
with ``register_baseline(name, fn, needs_gradients=..., aggregate=..., label=..., tags=(...), **defaults)``
(or as a decorator). ``tags`` say what it is and needs (``TAGS``: "gradient", "perturbation", "layer",
"sampling", ...); the faithfulness tests pick their baselines by tags (``baselines_tagged("core")``), so a
method tagged "standard" joins the tests that run the standard panel without editing them. ``applies=``
says on which models it can run. ``tests/test_baselines.py`` shows the checks a new method should pass.
"""

from trace_opt.baselines.methods import (
    BASELINES,
    TAGS,
    Attribution,
    AttributionInput,
    BaselineMethod,
    FeatureScores,
    applicable_baselines,
    attribute,
    available_baselines,
    baseline_trajectory,
    baselines_tagged,
    get_baseline,
    make_input,
    register_baseline,
    rise_scores,
)

__all__ = [
    "AttributionInput",
    "BaselineMethod",
    "Attribution",
    "FeatureScores",
    "BASELINES",
    "TAGS",
    "register_baseline",
    "available_baselines",
    "get_baseline",
    "applicable_baselines",
    "baselines_tagged",
    "make_input",
    "attribute",
    "baseline_trajectory",
    "rise_scores",
]
