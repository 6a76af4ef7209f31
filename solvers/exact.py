"""The exact solver: complete search (2^t sets) then DP over the subset lattice (solvers.complete)."""

from __future__ import annotations

import warnings

import numpy as np

from trace_opt.core.validation import check_positive_float, check_positive_int

from .base import Solver, register
from .complete import (
    MAX_MEMORY_GB,
    MAX_T,
    _check_size,
    complete_table,
    exact_optimum,
    memory_estimate,
    optimal_trajectory_count,
    size_description,
)


@register("exact")
class Exact(Solver):
    """The optimal trajectory, by enumerating D(S) for all 2^t sets and dynamic programming.

    Parameters
    ----------
    max_t : refuse t above this (2^t forward passes); default ``complete.MAX_T``.
    max_memory_gb : refuse when the memory estimate exceeds this; default ``complete.MAX_MEMORY_GB``.
    chunk : sets per oracle request; each chunk counts as one iteration.
    count_ties : also count the optimal trajectories (``complete.optimal_trajectory_count``: one more
        O(t 2^t) pass over the table, no model call) into ``Result.info``: ``optimal_trajectories``,
        ``optimum_unique`` and ``all_orders_tie`` (every order is optimal: a symmetric model or a
        constant D). The trajectory returned under ties follows the toolkit's tie rule (lower feature
        index = less important; ``complete.exact_optimum``).

    Cost: 2^t forward passes minus cache hits. The size limits are checked before any model call
    (ValueError suggesting a heuristic). A forward-pass budget below that cost stops the solve with
    ``stopped="budget"`` and no evaluated trajectory (the base falls back to the identity order).
    The size of the search is recorded in ``Result.info`` (``sets`` = 2^t, ``memory_estimate_bytes``)
    and, with ``progress=True``, shown in the progress bar's description.
    """

    def __init__(
        self, max_t: int = MAX_T, max_memory_gb: float = MAX_MEMORY_GB, chunk: int = 1 << 14, count_ties: bool = True
    ):
        if not isinstance(count_ties, (bool, np.bool_)):
            raise ValueError(f"count_ties must be True or False; got {count_ties!r}")
        self.count_ties = bool(count_ties)
        self.max_t = check_positive_int("max_t", max_t, minimum=2)
        self.max_memory_gb = check_positive_float("max_memory_gb", max_memory_gb)
        self.chunk = check_positive_int("chunk", chunk)

    def _progress_total(self, problem):
        return -(-(1 << problem.t) // self.chunk) if problem.t <= 63 else None

    def check_size(self, t: int) -> None:
        if t > 63:
            raise ValueError(
                f"complete search needs t <= 63 (uint64 keys); got t={t}; use a heuristic solver "
                "(e.g. 'window-dp', 'tabu', 'sa' or 'beam')"
            )
        _check_size(t, self.max_t, self.max_memory_gb, cached=True)

    def _search(self, problem, run):
        t = problem.t
        limit = run.budget.forward_passes
        if t <= 63 and limit is not None and limit < (1 << t) - problem.oracle.forward_passes:
            warnings.warn(
                f"exact: the budget of {limit:,} forward passes is below the 2^{t} = {1 << t:,} sets "
                "the complete search evaluates; it will stop before it has any trajectory and return the "
                "identity order 0..t-1 (stopped='budget'); raise the budget to 2^t or use a heuristic "
                "solver",
                UserWarning,
                stacklevel=3,
            )
        elif t <= 63 and problem.oracle.use_cache and run.hold is not None:
            # every set of the lattice will be evaluated and cached (the final scoring and curves included),
            # so nothing needs holding back; a pass limit cannot stop the table (a time limit still can)
            run.hold.passes = 0
        if t <= 63:
            cached = problem.oracle.use_cache
            run.info.update(sets=1 << t, memory_estimate_bytes=memory_estimate(t, cached))
            run.bar.set_description(f"{self.name}: {size_description(t, cached)}")
        table = complete_table(
            problem,
            chunk=self.chunk,
            max_t=self.max_t,
            max_memory_gb=self.max_memory_gb,
            on_chunk=lambda done: run.tick(),
        )
        sigma, score = exact_optimum(table, problem.objective)
        if self.count_ties:
            run.info.update(optimal_trajectory_count(table, problem.objective))
        run.report(sigma, score)
