"""Neighbourhoods: moves between trajectories. They see only integer arrays, never the model.

A neighbourhood proposes a move as ``(new_sigma, lo, hi)``: ``new_sigma`` differs from ``sigma``
only at positions ``lo..hi`` (inclusive), so only prefix sets ``P_k`` with ``lo < k <= hi`` change.

Transposition sets (``complete``, ``bubble``, ``star``, ``TranspositionGraph`` for any connected
networkx graph on positions or features) and TSP-style moves (``vertex-insertion``,
``block-reverse``, ``block-insertion``, the paper's ``mix``); Cayley-graph tools in ``cayley``.
Built-in neighbourhoods are implicit: binding takes O(t) time and memory at most, a move is drawn in
O(1) (plus the O(t) copy of the trajectory), ``move_count`` is a formula, and moves are enumerated
(``neighbours``, ``transpositions``) or a networkx graph built (``graph``) only when asked for.
"""

from .base import (
    ALIASES,
    N_DRAWS,
    NEIGHBOURHOODS,
    BlockInsertion,
    BlockReverse,
    BubbleSortTranspositions,
    CompleteTranspositions,
    MixedMoves,
    Move,
    Neighbourhood,
    NeighbourhoodSpec,
    StarTranspositions,
    TranspositionGraph,
    VertexInsertion,
    check_generating_graph,
    check_neighbourhood_spec,
    get_neighbourhood,
    register_neighbourhood,
)
from .cayley import cayley_diameter, cayley_graph, is_connected, is_regular

__all__ = [
    "ALIASES",
    "N_DRAWS",
    "NEIGHBOURHOODS",
    "BlockInsertion",
    "BlockReverse",
    "BubbleSortTranspositions",
    "CompleteTranspositions",
    "MixedMoves",
    "Move",
    "Neighbourhood",
    "NeighbourhoodSpec",
    "StarTranspositions",
    "TranspositionGraph",
    "VertexInsertion",
    "check_generating_graph",
    "check_neighbourhood_spec",
    "get_neighbourhood",
    "register_neighbourhood",
    "cayley_diameter",
    "cayley_graph",
    "is_connected",
    "is_regular",
]
