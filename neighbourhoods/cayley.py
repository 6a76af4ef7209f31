"""Cayley-graph tools for small t (networkx): the search graph a neighbourhood induces on S_t.

The vertices are the t! trajectories; ``sigma -> new`` is an arc when ``new`` is a neighbour of
``sigma``. For position moves ``new = sigma o g`` (right multiplication by a generator g), for feature
transpositions ``new = g o sigma`` (left multiplication): either way the graph is the Cayley graph
``Cay(S_t, S)`` of the move set S, hence |S|-regular and vertex-transitive, so its diameter equals
the eccentricity of any single vertex (``cayley_diameter`` uses the identity).
"""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np

from .base import NeighbourhoodSpec, get_neighbourhood

MAX_T = 8  # 8! = 40,320 vertices; beyond that the graph is too large to build


def cayley_graph(neighbourhood: NeighbourhoodSpec, t: int) -> nx.Graph | nx.DiGraph:
    """Build Cay(S_t, S) of a neighbourhood (name, instance or graph) for t <= MAX_T.

    Vertices are trajectories as tuples. Returns an undirected ``nx.Graph`` when every move can be
    undone by a move (true for transpositions and the TSP moves), else a ``nx.DiGraph``.
    """
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 2 <= t <= MAX_T:
        raise ValueError(f"t={t!r} is not valid; expected an integer in 2..{MAX_T} (the graph has t! vertices)")
    nb = get_neighbourhood(neighbourhood, int(t))
    g = nx.DiGraph()
    for perm in itertools.permutations(range(t)):
        g.add_node(perm)
        for new, _, _ in nb.neighbours(np.array(perm, dtype=np.int64)):
            g.add_edge(perm, tuple(int(v) for v in new))
    symmetric = all(g.has_edge(b, a) for a, b in g.edges())
    return g.to_undirected() if symmetric else g


def degrees(graph: nx.Graph) -> set[int]:
    """The set of (out-)degrees; a single value means the graph is regular."""
    deg = graph.out_degree() if graph.is_directed() else graph.degree()
    return {d for _, d in deg}


def is_regular(graph: nx.Graph) -> bool:
    """Every vertex has the same (out-)degree."""
    return len(degrees(graph)) == 1


def is_connected(graph: nx.Graph) -> bool:
    """Connected (strongly, for a directed graph): the moves generate S_t."""
    return nx.is_strongly_connected(graph) if graph.is_directed() else nx.is_connected(graph)


def cayley_diameter(graph: nx.Graph, exact: bool = False) -> int:
    """Diameter of a Cayley graph: eccentricity of the identity (valid by vertex-transitivity).

    ``exact=True`` computes all eccentricities with networkx instead (slow: t! breadth-first searches).
    """
    if not is_connected(graph):
        raise ValueError("the graph is not connected: its diameter is infinite (the moves do not generate S_t)")
    if exact:
        return int(nx.diameter(graph))
    t = len(next(iter(graph.nodes())))
    return int(nx.eccentricity(graph, v=tuple(range(t))))


def paper_diameter(name: str, t: int) -> int:
    """Diameters stated in the paper (Theorem 3, Proposition 2) for complete, bubble-sort and star."""
    if name == "complete":
        return t - 1
    if name == "bubble":
        return t * (t - 1) // 2
    if name == "star":
        return math.floor(3 * (t - 1) / 2)
    raise ValueError(f"name={name!r} is not valid; expected 'complete', 'bubble' or 'star'")
