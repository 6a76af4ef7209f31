"""TRACE: explain a model by the trajectory (deletion order) of its input features.

Public surface: ``explain``; features (``grid_features``, ``segmentation_features``,
``tabular_features``); ``make_reference``; oracles (``ModelOracle``, ``CallableOracle``,
``SetFunctionOracle``); ``TraceProblem`` and ``Curves``; ranking helpers.
"""
from .features import Features, grid_features, segmentation_features, tabular_features
from .references import REFERENCE_KINDS, make_reference
from .oracle import BudgetExhausted, CallableOracle, ModelOracle, Oracle, SetFunctionOracle, OUTPUTS
from .problem import OBJECTIVES, Curves, TraceProblem
from .rankings import (attribution_to_trajectory, feature_scores, kendall_tau_distance, scores_to_trajectory,
                       trajectory_to_heatmap)
from .explain import Explanation, explain

__version__ = "0.1.0"

__all__ = ["Features", "grid_features", "segmentation_features", "tabular_features", "REFERENCE_KINDS",
           "make_reference", "BudgetExhausted", "CallableOracle", "ModelOracle", "Oracle", "SetFunctionOracle",
           "OUTPUTS", "OBJECTIVES", "Curves", "TraceProblem", "attribution_to_trajectory", "feature_scores",
           "kendall_tau_distance", "scores_to_trajectory", "trajectory_to_heatmap", "Explanation", "explain"]
