"""The tests' brute-force reference: every one of the t! deletion orders, scored (t <= 9).

``brute_force(problem)`` scores the orders with the problem itself (its oracle, exact or a model, in one batch);
``brute_force_table(values, objective)`` scores them from a table of D over all 2^t sets by the definition of the
objectives (DESIGN.md section 2), written here and not taken from the library, so the library's tables, DP and
bounds are checked against an independent computation. Both give a ``BruteForce``: the orders, their scores, the
best value, the first best order (``argmax``) and every order within a tolerance of the best (``optima``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

MAX_T = 9  # 9! = 362,880 orders


def all_orders(t: int) -> np.ndarray:
    """The t! orders of ``0..t-1`` as the rows of an int64 array, in ``itertools.permutations`` order."""
    if not 1 <= t <= MAX_T:
        raise ValueError(f"brute force over t! orders needs 1 <= t <= {MAX_T}; got t={t}")
    return np.array(list(itertools.permutations(range(t))), dtype=np.int64)


@dataclass(frozen=True)
class BruteForce:
    """Every order (``orders``, one per row) and its score (``scores``, the maximised chain sum)."""

    orders: np.ndarray
    scores: np.ndarray

    @property
    def best(self) -> float:
        """The optimum: the largest score."""
        return float(self.scores.max())

    @property
    def argmax(self) -> np.ndarray:
        """The first order (in ``all_orders`` order) with the largest score."""
        return self.orders[int(np.argmax(self.scores))]

    def optima(self, tol: float = 1e-9) -> list[tuple[int, ...]]:
        """Every order whose score is within ``tol`` of the best, as tuples."""
        best = self.best
        return [tuple(int(v) for v in o) for o, s in zip(self.orders, self.scores) if s >= best - tol]


def brute_force(problem) -> BruteForce:
    """Score all ``problem.t``! orders with ``problem.scores`` (model calls through its oracle, cached)."""
    orders = all_orders(problem.t)
    return BruteForce(orders, np.asarray(problem.scores(orders), dtype=np.float64))


def brute_force_table(values, objective: str) -> BruteForce:
    """Score all t! orders from ``values``, D(S) for every bitmask S (length 2^t), by the definition.

    The chain of an order sigma is ``c(P_0), ..., c(P_t)`` over its prefix sets ``P_k = set(sigma[:k])``, with
    ``c(S) = D(S)`` (le), ``-D(all \\ S)`` (mo) or ``D(S) - D(all \\ S)`` (le-mo); the score is its sum (summed
    per row, as ``TraceProblem.chain(sigma).sum()`` sums).
    """
    d = np.asarray(values, dtype=np.float64)
    t = d.shape[0].bit_length() - 1
    if d.ndim != 1 or d.shape[0] != 1 << t:
        raise ValueError(f"values must hold D of all 2^t sets, indexed by bitmask; got shape {d.shape}")
    full = (1 << t) - 1
    orders = all_orders(t)
    prefix = np.concatenate([np.zeros((len(orders), 1), np.int64), np.cumsum(1 << orders, axis=1)], axis=1)
    if objective == "le":
        c = d[prefix]
    elif objective == "mo":
        c = -d[full ^ prefix]
    elif objective == "le-mo":
        c = d[prefix] - d[full ^ prefix]
    else:
        raise ValueError(f"objective={objective!r} is not one of 'le', 'mo', 'le-mo'")
    return BruteForce(orders, c.sum(axis=1))
