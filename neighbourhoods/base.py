"""The neighbourhood interface, a registry by name, transposition sets and TSP-style moves.

A neighbourhood proposes a move as ``(new_sigma, lo, hi)`` with ``lo < hi``: ``new_sigma`` differs
from ``sigma`` only at positions ``lo..hi`` (inclusive) and the prefix sets that change are exactly
``P_k`` for ``lo < k <= hi`` (so a solver evaluates ``hi - lo`` sets, twice that for ``le-mo``).

Why the range is exact, per move (positions are 0-based, ``P_k = set(sigma[:k])``):

* swap of positions i < j: for i < k <= j, ``P_k`` loses ``sigma[i]`` and gains ``sigma[j]``.
* vertex insertion i -> j (i < j; j < i is symmetric): for i < k <= j the new ``P_k`` equals the old
  ``P_(k+1)`` minus ``sigma[i]``, which differs from the old ``P_k`` (that contains ``sigma[i]``).
* block reverse of i..j: for i < k <= j the new ``P_k`` holds ``P_i`` plus positions ``j-k+i+1..j``,
  the old one ``P_i`` plus ``i..k-1``: equal only if k = j+1.
* block insertion (exchange adjacent blocks A = [a, m-1] and B = [m, c]): for a < k <= c, the new
  prefix contains all of B or lies inside B, the old one lacks an element of B or lies inside A.

Moves are drawn by the numba kernel ``neighbourhoods.kernels.apply_move`` from ``N_DRAWS`` uniform
numbers, so ``propose(sigma, rng)`` consumes exactly ``rng.random(N_DRAWS)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeAlias, TypeVar

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.registry import Registry

from . import kernels as K

NEIGHBOURHOODS: Registry = Registry("neighbourhood")
ALIASES = {
    "bubble-sort": "bubble",
    "adjacent": "bubble",
    "vi": "vertex-insertion",
    "br": "block-reverse",
    "bi": "block-insertion",
}
N_DRAWS = K.N_DRAWS
_NO_EDGES = np.zeros((1, 2), dtype=np.int64)
_NO_PROBS = np.zeros(2, dtype=np.float64)

#: one move: ``(new_sigma, lo, hi)``, ``new_sigma`` equal to ``sigma`` outside positions ``lo..hi``
Move: TypeAlias = "tuple[np.ndarray, int, int]"
#: what ``get_neighbourhood`` and the solvers' ``neighbourhood=`` option accept
NeighbourhoodSpec: TypeAlias = "str | Neighbourhood | nx.Graph"
NeighbourhoodType = TypeVar("NeighbourhoodType", bound="type[Neighbourhood]")


def register_neighbourhood(name: str, overwrite: bool = False) -> Callable[[NeighbourhoodType], NeighbourhoodType]:
    """Class decorator: make a ``Neighbourhood`` subclass available by ``name`` to ``get_neighbourhood`` and the
    solvers' ``neighbourhood=`` option (its constructor is then called without arguments). A name already
    registered is refused unless ``overwrite=True``, the rule of every registry (``trace_opt.core.registry``)."""
    return NEIGHBOURHOODS.decorator(name, overwrite=overwrite)


class Neighbourhood:
    """Base class of the neighbourhoods: the moves a local search (SA, tabu) makes between trajectories.

    **To add a neighbourhood**, subclass ``Neighbourhood`` and implement ``propose(sigma, rng)`` (its docstring
    is the contract: one random move as ``(new_sigma, lo, hi)`` with the exact changed range). Pass an
    instance as a solver's ``neighbourhood=`` option, or register the class with
    ``@register_neighbourhood(name)`` so that the name works there and on the command line
    (``--solver-options '{"neighbourhood": "name"}'``). Optional, for more than random moves:

    * ``_all_moves(s)``: yield every move of the bound t as ``(new_sigma, lo, hi)``; it gives ``neighbours``
      (enumeration, e.g. tabu's full scan at small t and ``cayley.cayley_graph``) and ``move_count``.
    * ``_prepare()``: called by ``bind(t)`` (after ``self.t`` is set) to build what the moves need, O(t) at most.
    * ``__init__`` with the neighbourhood's options, validated there (a ValueError naming the option).

    A minimal neighbourhood, adjacent swaps (the move ``i <-> i+1`` changes only ``P_(i+1)``)::

        from neighbourhoods import Neighbourhood, register_neighbourhood
        from solvers import get_solver


        @register_neighbourhood("adjacent-swap")
        class AdjacentSwap(Neighbourhood):
            def propose(self, sigma, rng):
                i = int(rng.integers(0, self.t - 1))
                new = sigma.copy()
                new[i], new[i + 1] = sigma[i + 1], sigma[i]
                return new, i, i + 1


        result = get_solver("sa", neighbourhood="adjacent-swap").solve(problem, budget=5000, seed=0)

    (``tests/test_neighbourhoods.py`` runs this example.) ``propose`` is not declared with ``abc.abstractmethod``
    because the base implements it for the built-in moves, which set ``kind`` (a ``neighbourhoods.kernels`` move
    kind drawn by one numba kernel, ``apply``) instead of overriding it, and because a subclass that only
    enumerates (``_all_moves``) is valid for the enumeration tools; ``propose`` on a subclass with neither raises
    NotImplementedError. Solvers take a compiled ``kind`` through their fast paths and any other subclass
    through ``propose`` (the slower generic path).

    Solvers ask, through public methods only: ``move_count()`` (how many moves ``neighbours`` enumerates,
    None when it cannot) and ``transposition_positions(sigma)`` (the swapped positions of every move of a
    transposition set, for vectorised candidates; None for other moves).
    """

    name = "base"
    kind = -1
    t: int
    edges: np.ndarray
    probs: np.ndarray

    def bind(self, t: int) -> Neighbourhood:
        """Prepare for trajectories of length t (validates; returns self)."""
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 2:
            raise ValueError(f"a neighbourhood needs t >= 2 features; got t={t!r}")
        self.t = int(t)
        self.edges = _NO_EDGES
        self.probs = _NO_PROBS
        self._prepare()
        return self

    def _prepare(self) -> None:
        pass

    def _bound_t(self) -> int:
        """The bound length t (ValueError if ``bind`` was never called)."""
        if not hasattr(self, "t"):
            raise ValueError(f"{self!r} is not bound to a length; call bind(t) or use get_neighbourhood(spec, t)")
        return self.t

    def _check_bound(self, sigma: ArrayLike) -> np.ndarray:
        self._bound_t()
        s = np.asarray(sigma)
        if s.ndim != 1 or s.shape[0] != self.t:
            raise ValueError(f"sigma must be a trajectory of length t={self.t}; got shape {s.shape}")
        return np.ascontiguousarray(s, dtype=np.int64)

    def apply(self, sigma: np.ndarray, u: ArrayLike) -> Move:
        """The move drawn by the uniform numbers ``u`` (``N_DRAWS`` of them): ``(new_sigma, lo, hi)``.

        Only for the built-in moves (``kind >= 0``); a user subclass implements ``propose`` instead.
        """
        if self.kind < 0:
            raise NotImplementedError(f"{type(self).__name__} has no compiled move kind; use propose(sigma, rng)")
        s = self._check_bound(sigma)
        out = np.empty_like(s)
        lo, hi = K.apply_move(self.kind, s, np.asarray(u, dtype=np.float64), self.edges, self.probs, out)
        return out, int(lo), int(hi)

    def propose(self, sigma: np.ndarray, rng: np.random.Generator) -> Move:
        """Draw one random neighbour of ``sigma``: THE method a new neighbourhood implements.

        Called by the solvers once per candidate move, after ``bind(t)``; ``self.t`` is the bound length.

        Args:
            sigma: the current trajectory, an int64 permutation of ``0..t-1`` (least important first). Read
                it, never modify it: the solver keeps it.
            rng: the solve's ``np.random.Generator``: the only randomness to use, so a seed reproduces the solve.

        Returns:
            ``(new_sigma, lo, hi)``: a new int64 array (not a view of ``sigma``) and two ints with
            ``0 <= lo < hi <= t-1`` such that ``new_sigma`` equals ``sigma`` outside positions ``lo..hi``. The
            range is a promise the solvers rely on: they re-evaluate only the prefix sets ``P_k`` with
            ``lo < k <= hi`` (``TraceProblem.move_deltas``), so a range too narrow gives wrong scores; one too
            wide only costs forward passes (the module docstring derives the exact range of each built-in move).

        The base implementation is the built-in moves': ``apply(sigma, rng.random(N_DRAWS))``, the compiled
        move of ``self.kind`` (it consumes exactly ``N_DRAWS`` uniform numbers); without a ``kind`` it raises
        NotImplementedError.
        """
        return self.apply(sigma, rng.random(N_DRAWS))

    def neighbours(self, sigma: np.ndarray) -> list[Move]:
        """Every distinct neighbour of ``sigma`` as ``(new_sigma, lo, hi)`` (enumeration; meant for small t)."""
        s = self._check_bound(sigma)
        seen: dict[bytes, Move] = {}
        for new, lo, hi in self._all_moves(s):
            key = new.tobytes()
            if key not in seen:
                seen[key] = (new, lo, hi)
        return list(seen.values())

    def _all_moves(self, s: np.ndarray) -> Iterator[Move]:  # pragma: no cover - abstract
        """Every move from the trajectory ``s`` (optional: implemented by a subclass that can enumerate)."""
        raise NotImplementedError

    def move_count(self) -> int | None:
        """Number of moves ``neighbours`` enumerates at the bound t, or None when this neighbourhood cannot
        enumerate (a subclass implementing only ``propose``).

        Every move is counted once; two moves may give the same neighbour (an adjacent swap is a block
        reverse and a vertex insertion in ``"mix"``), so this bounds the number of distinct neighbours of
        any sigma from above. Built-in moves override it with a formula; the default, for a subclass
        implementing ``_all_moves`` or ``neighbours``, counts the distinct neighbours of the identity.
        """
        t = self._bound_t()
        cls = type(self)
        if cls._all_moves is Neighbourhood._all_moves and cls.neighbours is Neighbourhood.neighbours:
            return None
        return len(self.neighbours(np.arange(t)))

    def transposition_positions(
        self, sigma: np.ndarray, moves: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """For a transposition set: the positions ``(lo, hi)`` (int64 arrays, lo < hi) that each generating
        transposition swaps in sigma, in the order of ``transpositions()`` (the moves with the indices
        ``moves`` only, when given: sampling without enumerating); None for other moves. Swapping
        ``sigma[lo[m]]`` and ``sigma[hi[m]]`` gives the m-th move (vectorised enumeration)."""
        self._check_bound(sigma)
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Transpositions(Neighbourhood):
    """A transposition set given by a graph on the t positions (``on="positions"``: swap the
    features at positions i and j) or on the t features (``on="features"``: swap features a and b
    wherever they stand). It generates S_t iff the graph is connected (the paper's Proposition 1).

    Implicit: binding builds no graph. ``edges`` is the kernel's table of generating transpositions
    (sorted pairs, one row per move: O(t) rows for bubble and star, the user's edges for a
    ``TranspositionGraph``); the complete set has no table (the kernel draws a uniform pair, and the
    m-th pair in ``np.triu_indices`` order is computed by formula), so a move is drawn in O(1) and
    ``move_count`` is a formula. ``graph`` builds the networkx graph on first use, ``transpositions``
    and ``transposition_positions(sigma)`` enumerate only when called.
    """

    on = "positions"

    def _edge_table(self, t: int):
        """The sorted generating pairs as an (E, 2) int64 array, or None when moves are drawn by formula."""
        return np.array(sorted((min(a, b), max(a, b)) for a, b in self.graph.edges()), dtype=np.int64)

    def _graph(self, t: int) -> nx.Graph:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self):
        self._nx_graph = None
        table = self._edge_table(self.t)
        self._implicit = table is None
        if table is not None:
            self.edges = table

    @property
    def graph(self) -> nx.Graph:
        """The transposition graph as a networkx graph (built on first use: O(t^2) edges for ``complete``)."""
        t = self._bound_t()
        if self._nx_graph is None:
            self._nx_graph = check_generating_graph(self._graph(t), t, type(self).__name__)
        return self._nx_graph

    def transpositions(self) -> list[tuple[int, int]]:
        """The generating transpositions as sorted pairs (of positions or features, per ``on``); enumerates."""
        lo, hi = self._pairs(None)
        return list(zip(lo.tolist(), hi.tolist()))

    def move_count(self) -> int:
        """One move per generating transposition (a formula for ``complete``: t(t-1)/2)."""
        t = self._bound_t()
        return t * (t - 1) // 2 if self._implicit else len(self.edges)

    def _pairs(self, moves):
        """The generating pairs (lo < hi, in enumeration order) of the move indices ``moves`` (None: all)."""
        t = self._bound_t()
        if self._implicit:
            if moves is None:
                lo, hi = np.triu_indices(t, k=1)
                return lo.astype(np.int64), hi.astype(np.int64)
            return complete_pairs(t, moves)
        rows = self.edges if moves is None else self.edges[np.asarray(moves, dtype=np.int64)]
        return rows[:, 0].copy(), rows[:, 1].copy()

    def transposition_positions(
        self, sigma: np.ndarray, moves: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The positions ``(lo, hi)`` swapped in sigma by every move, or only by the moves with the indices
        ``moves`` (0..move_count()-1, in enumeration order; O(len(moves) + t), no enumeration)."""
        s = self._check_bound(sigma)
        if moves is not None:
            moves = np.asarray(moves, dtype=np.int64).reshape(-1)
            n = self.move_count()
            if len(moves) and (moves.min() < 0 or moves.max() >= n):
                raise ValueError(
                    f"moves must be move indices in 0..{n - 1}; got values in {int(moves.min())}..{int(moves.max())}"
                )
        a, b = self._pairs(moves)
        if self.on == "positions":
            return a, b
        pos = np.empty(self.t, dtype=np.int64)  # transpositions of features: wherever they stand
        pos[s] = np.arange(self.t)
        a, b = pos[a], pos[b]
        return np.minimum(a, b), np.maximum(a, b)

    def _all_moves(self, s):
        lo, hi = self.transposition_positions(s)
        for i, j in zip(lo.tolist(), hi.tolist()):
            out = np.empty_like(s)
            K.swap_positions(s, i, j, out)
            yield out, i, j


def complete_pairs(t: int, moves: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(lo, hi)`` (int64 arrays) with indices ``moves`` in the ``np.triu_indices(t, k=1)``
    order of the t(t-1)/2 pairs i < j (row i starts at index i(2t-i-1)/2), without enumerating them."""
    m = np.asarray(moves, dtype=np.int64).reshape(-1)
    start = lambda i: i * (2 * t - i - 1) // 2  # noqa: E731 - first index of row i
    b = 2 * t - 1
    i = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * m, 0.0))) / 2).astype(np.int64)
    i = np.clip(i, 0, t - 2)
    for _ in range(2):  # correct the float estimate by at most a row either way
        i = np.where(start(i) > m, i - 1, i)
        i = np.where(start(i + 1) <= m, i + 1, i)
    return i, m - start(i) + i + 1


def check_generating_graph(graph: nx.Graph, t: int, who: str = "graph") -> nx.Graph:
    """Validate a transposition graph on ``0..t-1``: integer nodes exactly 0..t-1, no self-loops, connected.

    A set of transpositions generates S_t iff its graph is connected (Proposition 1); a disconnected
    graph would leave most trajectories unreachable, so it is refused.
    """
    if not isinstance(graph, nx.Graph):
        raise ValueError(f"{who}: graph must be a networkx Graph on the nodes 0..t-1; got {type(graph).__name__}")
    g = nx.Graph(graph)  # undirected view: a transposition is its own inverse
    nodes = set(g.nodes())
    if nodes != set(range(t)):
        extra = sorted(map(repr, nodes - set(range(t))))[:5]
        missing = sorted(set(range(t)) - nodes)[:5]
        raise ValueError(
            f"{who}: graph nodes must be exactly the integers 0..{t - 1}; missing {missing}, unexpected {extra}"
        )
    loops = list(nx.selfloop_edges(g))
    if loops:
        raise ValueError(f"{who}: graph has self-loops {loops[:5]}; a transposition swaps two different elements")
    if not nx.is_connected(g):
        parts = nx.number_connected_components(g)
        raise ValueError(
            f"{who}: the transposition graph has {parts} connected components, so its "
            f"transpositions do not generate S_{t} (Proposition 1: a transposition set generates "
            f"S_t iff its graph is connected); add edges joining the components"
        )
    return g


@register_neighbourhood("complete")
class CompleteTranspositions(_Transpositions):
    """Swap the features at any two positions (the complete graph; Cayley diameter t-1)."""

    kind = K.KIND_COMPLETE

    def _edge_table(self, t):
        return None  # implicit: the kernel draws a uniform pair; ``complete_pairs`` indexes them

    def _graph(self, t):
        return nx.complete_graph(t)


@register_neighbourhood("bubble")
class BubbleSortTranspositions(_Transpositions):
    """Swap two adjacent positions (the path graph; Cayley diameter t(t-1)/2). Every move has hi = lo+1."""

    kind = K.KIND_EDGES_POS

    def _edge_table(self, t):
        i = np.arange(t - 1, dtype=np.int64)
        return np.stack([i, i + 1], axis=1)

    def _graph(self, t):
        return nx.path_graph(t)


@register_neighbourhood("star")
class StarTranspositions(_Transpositions):
    """Swap the ``centre`` with any other element (the star graph; Cayley diameter floor(3(t-1)/2)).

    on : ``"positions"`` (centre is a position; default position 0, the least important end) or
        ``"features"`` (centre is a feature index, swapped with any other feature).
    """

    def __init__(self, centre: int = 0, on: str = "positions") -> None:
        if on not in ("positions", "features"):
            raise ValueError(f"on={on!r} is not valid; expected 'positions' or 'features'")
        if isinstance(centre, bool) or not isinstance(centre, (int, np.integer)) or centre < 0:
            raise ValueError(f"centre={centre!r} is not valid; expected an integer in 0..t-1")
        self.centre = int(centre)
        self.on = on
        self.kind = K.KIND_EDGES_POS if on == "positions" else K.KIND_EDGES_FEAT

    def _edge_table(self, t):
        if self.centre >= t:
            raise ValueError(f"centre={self.centre} is not valid for t={t}; expected an integer in 0..{t - 1}")
        c = self.centre
        others = np.delete(np.arange(t, dtype=np.int64), c)  # sorted pairs: (j, c) for j < c, then (c, j)
        return np.stack([np.minimum(others, c), np.maximum(others, c)], axis=1)

    def _graph(self, t):
        g = nx.Graph()
        g.add_nodes_from(range(t))
        g.add_edges_from((self.centre, j) for j in range(t) if j != self.centre)
        return g

    def __repr__(self):
        return f"StarTranspositions(centre={self.centre}, on={self.on!r})"


class TranspositionGraph(_Transpositions):
    """Transpositions given by any networkx graph on ``0..t-1`` (edge (a, b) = transposition (a b)).

    on : ``"positions"`` (swap the features at positions a and b) or ``"features"`` (swap features a
        and b wherever they stand). The graph must be connected (Proposition 1), else ``ValueError``.
    """

    def __init__(self, graph: nx.Graph, on: str = "positions") -> None:
        if on not in ("positions", "features"):
            raise ValueError(f"on={on!r} is not valid; expected 'positions' or 'features'")
        if not isinstance(graph, nx.Graph):
            raise ValueError(f"graph must be a networkx Graph on the nodes 0..t-1; got {type(graph).__name__}")
        self.user_graph = graph
        self.on = on
        self.kind = K.KIND_EDGES_POS if on == "positions" else K.KIND_EDGES_FEAT

    def _graph(self, t):
        return self.user_graph

    def __repr__(self):
        return (
            f"TranspositionGraph(<{self.user_graph.number_of_nodes()} nodes, "
            f"{self.user_graph.number_of_edges()} edges>, on={self.on!r})"
        )


@register_neighbourhood("vertex-insertion")
class VertexInsertion(Neighbourhood):
    """Take the feature at position i and re-insert it at position j != i (range min(i,j)..max(i,j))."""

    kind = K.KIND_VI

    def move_count(self) -> int:
        """t(t-1): every ordered pair i != j."""
        t = self._bound_t()
        return t * (t - 1)

    def _all_moves(self, s):
        t = self.t
        for i in range(t):
            for j in range(t):
                if i != j:
                    out = np.empty_like(s)
                    lo, hi = K.vertex_insertion(s, i, j, out)
                    yield out, int(lo), int(hi)


@register_neighbourhood("block-reverse")
class BlockReverse(Neighbourhood):
    """Reverse the block of positions i..j (i < j, uniform over pairs; range i..j)."""

    kind = K.KIND_BR

    def move_count(self) -> int:
        """t(t-1)/2: every pair i < j."""
        t = self._bound_t()
        return t * (t - 1) // 2

    def _all_moves(self, s):
        t = self.t
        for i in range(t):
            for j in range(i + 1, t):
                out = np.empty_like(s)
                K.block_reverse(s, i, j, out)
                yield out, i, j


@register_neighbourhood("block-insertion")
class BlockInsertion(Neighbourhood):
    """Move the block [a, m-1] behind the block [m, c] (equivalently exchange the two adjacent blocks).

    Drawn as a uniform pair a < c and a uniform cut m in a+1..c; range a..c.
    """

    kind = K.KIND_BI

    def move_count(self) -> int:
        """t(t^2-1)/6: every a < m <= c."""
        t = self._bound_t()
        return (t - 1) * t * (t + 1) // 6

    def _all_moves(self, s):
        t = self.t
        for a in range(t):
            for c in range(a + 1, t):
                for m in range(a + 1, c + 1):
                    out = np.empty_like(s)
                    K.block_insertion(s, a, m, c, out)
                    yield out, a, c


@register_neighbourhood("mix")
class MixedMoves(Neighbourhood):
    """The paper's mix of TSP moves: block reverse, vertex insertion, block insertion with
    probabilities ``p_block_reverse`` (0.89), ``p_vertex_insertion`` (0.10) and the rest (0.01)."""

    kind = K.KIND_MIX

    def __init__(self, p_block_reverse: float = 0.89, p_vertex_insertion: float = 0.10) -> None:
        for name, p in (("p_block_reverse", p_block_reverse), ("p_vertex_insertion", p_vertex_insertion)):
            if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
                raise ValueError(f"{name}={p!r} is not valid; expected a probability in [0, 1]")
        if p_block_reverse + p_vertex_insertion > 1 + 1e-12:
            raise ValueError(
                f"p_block_reverse + p_vertex_insertion = {p_block_reverse + p_vertex_insertion} "
                "is not valid; expected a sum <= 1 (the rest goes to block insertion)"
            )
        self.p_block_reverse = float(p_block_reverse)
        self.p_vertex_insertion = float(p_vertex_insertion)

    def _prepare(self):
        self.probs = np.array([self.p_block_reverse, self.p_vertex_insertion], dtype=np.float64)

    def _parts(self) -> list:
        """The moves of the mix that can be drawn (probability > 0), bound to t."""
        parts = [
            (self.p_block_reverse, BlockReverse),
            (self.p_vertex_insertion, VertexInsertion),
            (1 - self.p_block_reverse - self.p_vertex_insertion, BlockInsertion),
        ]
        return [cls().bind(self.t) for p, cls in parts if p > 0]

    def move_count(self) -> int:
        """The sum over the moves of the mix that can be drawn."""
        self._bound_t()
        return sum(part.move_count() for part in self._parts())

    def _all_moves(self, s):
        for part in self._parts():
            yield from part._all_moves(s)

    def __repr__(self):
        return f"MixedMoves(p_block_reverse={self.p_block_reverse}, p_vertex_insertion={self.p_vertex_insertion})"


def check_neighbourhood_spec(spec: NeighbourhoodSpec) -> NeighbourhoodSpec:
    """Validate a neighbourhood spec without binding it (for solver constructors); returns it."""
    if isinstance(spec, (Neighbourhood, nx.Graph)):
        return spec
    if isinstance(spec, str) and ALIASES.get(spec, spec) in NEIGHBOURHOODS:
        return spec
    raise ValueError(
        f"neighbourhood={spec!r} is not valid; expected a Neighbourhood, a networkx graph or one of "
        f"{sorted(NEIGHBOURHOODS)} (aliases {sorted(ALIASES)})"
    )


def get_neighbourhood(spec: NeighbourhoodSpec, t: int) -> Neighbourhood:
    """A neighbourhood from a name in ``NEIGHBOURHOODS`` (or an alias), a ``Neighbourhood`` instance,
    or a networkx graph (transpositions on positions), bound to t."""
    if isinstance(spec, Neighbourhood):
        return spec.bind(t)
    if isinstance(spec, nx.Graph):
        return TranspositionGraph(spec).bind(t)
    if isinstance(spec, str):
        name = ALIASES.get(spec, spec)
        if name in NEIGHBOURHOODS:
            return NEIGHBOURHOODS[name]().bind(t)
    raise ValueError(
        f"neighbourhood={spec!r} is not valid; expected a Neighbourhood, a networkx graph or one of "
        f"{sorted(NEIGHBOURHOODS)} (aliases {sorted(ALIASES)})"
    )
