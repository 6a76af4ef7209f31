"""Neighbourhoods: moves between trajectories. They see only integer arrays, never the model.

A neighbourhood proposes a move as ``(new_sigma, lo, hi)``: ``new_sigma`` differs from ``sigma``
only at positions ``lo..hi`` (inclusive), so only prefix sets ``P_k`` with ``lo < k <= hi`` change.
"""
from .base import Neighbourhood, CompleteTranspositions, get_neighbourhood, NEIGHBOURHOODS

__all__ = ["Neighbourhood", "CompleteTranspositions", "get_neighbourhood", "NEIGHBOURHOODS"]
