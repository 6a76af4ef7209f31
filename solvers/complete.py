"""Complete search over the 2^t subsets: the table of D(S), the paper's CS bounds and Avg.IoU,
the exact optimum by dynamic programming over the lattice, and a gap report for any trajectory.

Tables are float64 arrays of length ``2^t`` indexed by bitmask: bit i set = feature i deleted, so
``table[S] = D(S)`` and ``table[full ^ S] = table[::-1][S]`` (``full ^ S = 2^t - 1 - S``).
Objectives follow DESIGN.md section 2 (every score is a maximised chain sum ``sum_k c(P_k)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import factorial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from trace_opt.core.kernels import prefix_bitmasks
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int, check_trajectory

from . import kernels

#: largest t accepted by default (2^26 sets); raise it with ``max_t=`` if you have the memory and time.
MAX_T = 26
#: default memory limit of a complete search, in GiB (tables, DP arrays and the oracle's cache).
MAX_MEMORY_GB = 4.0
#: bytes per set: the D table (8), c and V of the DP (16), argmax (1), level scan; plus the oracle's
#: cache (a numba open-addressing table of 17-byte slots at load <= 1/2, briefly doubled while it
#: grows: up to ~100 bytes per entry), rounded up.
_BYTES_PER_SET = 8 + 16 + 1 + 8
_CACHE_BYTES_PER_SET = 120


def memory_estimate(t: int, cached: bool = True) -> int:
    """Estimated peak bytes of ``complete_table`` + ``exact_optimum`` for t features."""
    per = _BYTES_PER_SET + (_CACHE_BYTES_PER_SET if cached else 0)
    return (1 << t) * per


def format_bytes(n: float) -> str:
    """Bytes in binary units: ``"3.0 KiB"``, ``"1.2 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def size_description(t: int, cached: bool = True) -> str:
    """``"2^t = N sets, ~X MiB"``: the cost and memory estimate of a complete search (progress bars)."""
    return f"2^{t} = {1 << t:,} sets, ~{format_bytes(memory_estimate(t, cached))}"


def _check_size(t: int, max_t: int, max_memory_gb: float, cached: bool) -> None:
    if t > max_t:
        raise ValueError(
            f"complete search over t={t} features needs 2^{t} = {1 << t:,} forward passes, above "
            f"the limit max_t={max_t}; use a heuristic solver (e.g. 'window-dp', 'tabu', 'sa' or "
            f"'beam') or raise max_t"
        )
    need = memory_estimate(t, cached) / 2**30
    if need > max_memory_gb:
        raise ValueError(
            f"complete search over t={t} features needs about {need:.1f} GiB of memory, above the "
            f"limit max_memory_gb={max_memory_gb:g}; use a heuristic solver (e.g. 'window-dp', "
            f"'tabu', 'sa' or 'beam') or raise max_memory_gb"
        )


def complete_table(
    problem: TraceProblem,
    progress: bool = False,
    chunk: int = 1 << 14,
    max_t: int = MAX_T,
    max_memory_gb: float = MAX_MEMORY_GB,
    on_chunk: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``D(S)`` for all 2^t sets S, indexed by bitmask (bit i = feature i deleted).

    Evaluated through ``problem.oracle.evaluate_keys`` in chunks of ``chunk`` sets (cached sets are free;
    the oracle counts forward passes = 2^t minus cache hits). The memory estimate is checked first
    against ``max_t`` and ``max_memory_gb``; with ``progress`` the bar shows it (``size_description``).
    ``on_chunk(done)`` is called after each chunk (solvers use it to count iterations). The oracle's
    budget limits apply (``BudgetExhausted`` propagates).
    """
    if not isinstance(problem, TraceProblem):
        raise ValueError(f"problem must be a TraceProblem; got {type(problem).__name__}")
    chunk = check_positive_int("chunk", chunk)
    max_t = check_positive_int("max_t", max_t, minimum=2)
    max_memory_gb = check_positive_float("max_memory_gb", max_memory_gb)
    t = problem.t
    if t > 63:
        raise ValueError(f"complete search needs t <= 63 (uint64 keys); got t={t}")
    _check_size(t, max_t, max_memory_gb, problem.oracle.use_cache)
    n = 1 << t
    table = np.empty(n, dtype=np.float64)
    desc = f"complete search ({size_description(t, problem.oracle.use_cache)})"
    with tqdm(total=n, desc=desc, disable=not progress, leave=False, unit="set") as bar:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            table[start:stop] = problem.oracle.evaluate_keys(np.arange(start, stop, dtype=np.uint64))
            bar.update(stop - start)
            if on_chunk is not None:
                on_chunk(stop)
    return table


def _check_table(table) -> tuple[np.ndarray, int]:
    d = np.asarray(table, dtype=np.float64)
    n = d.shape[0] if d.ndim == 1 else 0
    t = n.bit_length() - 1
    if d.ndim != 1 or n < 4 or (1 << t) != n:
        raise ValueError(f"table must be a 1-D array of length 2^t (t >= 2) indexed by bitmask; got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("table contains NaN or infinite values")
    return np.ascontiguousarray(d), t


def objective_table(table: ArrayLike, objective: str) -> np.ndarray:
    """``c(S)`` for every bitmask S from the D table: le ``D(S)``; mo ``-D(all \\ S)``; le-mo ``D(S) - D(all \\ S)``."""
    d, _ = _check_table(table)
    check_choice("objective", objective, OBJECTIVES)
    if objective == "le":
        return d
    if objective == "mo":
        return -d[::-1].copy()
    return d - d[::-1]


def exact_optimum(table: ArrayLike, objective: str) -> tuple[np.ndarray, float]:
    """The optimal trajectory and its score (maximised chain sum) by DP over the subset lattice.

    O(t 2^t) time, O(2^t) memory (numba kernel ``kernels.chain_dp``). Deterministic under ties, by the
    toolkit's one tie rule (DESIGN.md section 4; ``kernels.chain_dp``): among exactly tied optimal
    orders the lower feature index is the less important (backtracking from the full set removes the
    highest tied feature first, so it takes the later position); on an additive objective with tied
    weights this is the stable ascending sort of ``rankings.attribution_to_trajectory``. Whether the
    optimum is unique: ``optimal_trajectory_count``.
    """
    c = objective_table(table, objective)
    sigma, _ = kernels.chain_dp(c)
    keys = prefix_bitmasks(sigma)
    # re-summed like TraceProblem.chain(sigma).sum(), so scores compare bit for bit with the solvers'
    return sigma.astype(np.int64), float(c[keys].sum())


#: relative tolerance of "optimal" (ties, greedy optimal), as the leaderboard's ``optimal`` column
RTOL = 1e-9


def count_optimal_trajectories(values: ArrayLike, objective: str = "le-mo", rtol: float = RTOL) -> tuple[float, int]:
    """``(optimum, number of optimal trajectories)`` by DP over the subset lattice.

    A trajectory counts when, at every prefix set, it is within ``tol = rtol * max(1, (t + 1) max |c|)``
    of the best chain to that set (so equal values by floating-point noise count as ties; with exact
    values, e.g. small integers, the count is exact). Counts are float64 in the kernel: exact below
    2^53 (every t <= 18), beyond that rounded. O(t 2^t) time, 2 x 2^t floats.
    """
    v, t = _check_table(values)
    c = objective_table(v, check_choice("objective", objective, OBJECTIVES))
    tol = float(rtol) * max(1.0, (t + 1) * float(np.max(np.abs(c))))
    opt, count = kernels.chain_count_dp(np.ascontiguousarray(c), tol)
    return float(opt), int(count)


def optimal_trajectory_count(table: ArrayLike, objective: str) -> dict[str, Any]:
    """How many trajectories reach the exact optimum of ``objective`` on a D table.

    Counted by DP over the subset lattice (``count_optimal_trajectories``, which treats values within
    ``RTOL`` relative rounding as ties; counts exact below 2^53, i.e.
    every t <= 18, float-rounded beyond). Returns ``{"optimal_trajectories": N, "optimum_unique":
    N == 1, "all_orders_tie": N == t!}`` (every order optimal, e.g. a symmetric model or a constant D).
    O(t 2^t) time, 2 x 2^t floats.
    """
    d, t = _check_table(table)
    _, n = count_optimal_trajectories(d, objective)
    return {"optimal_trajectories": int(n), "optimum_unique": n == 1, "all_orders_tie": n >= factorial(t)}


def table_scores(table: ArrayLike, objective: str, sigmas: ArrayLike) -> np.ndarray | float:
    """Chain scores of trajectories read from the table: an array for a matrix of them (one per row), a float
    for a single one."""
    c = objective_table(table, objective)
    t = c.shape[0].bit_length() - 1
    s = np.asarray(sigmas)
    rows = s[None, :] if s.ndim == 1 else s
    rows = np.stack([check_trajectory(r, t, "trajectory") for r in rows]) if len(rows) else rows
    keys = prefix_bitmasks(rows) if len(rows) else np.zeros((0, t + 1), dtype=np.int64)
    out = np.array([float(c[k].sum()) for k in keys])  # summed like TraceProblem.chain(sigma).sum()
    return float(out[0]) if s.ndim == 1 else out


def _bits(S: int, t: int) -> set:
    return {i for i in range(t) if (S >> i) & 1}


def avg_iou(level_sets: Sequence[int] | np.ndarray, t: int) -> float:
    """Paper eq. 5: mean over k = 1..t-1 of ``|s_k & s_(k+1)| / |s_k | s_(k+1)| * (k+1)/k``.

    ``level_sets[k]`` is the bitmask of the optimal set of size k (k = 0..t). 1 iff the sets nest.
    """
    vals = []
    for k in range(1, t):
        a, b = int(level_sets[k]), int(level_sets[k + 1])
        inter = bin(a & b).count("1")
        union = bin(a | b).count("1")
        vals.append(inter / union * (k + 1) / k)
    return float(np.mean(vals))


def cs_bounds(table: ArrayLike, objective: str) -> dict[str, Any]:
    """Complete-search bounds (paper eq. 4) and Avg.IoU (eq. 5) from the D table.

    Keys: ``cs_le = sum_k max_{|S|=k} D(S)`` (upper bound of AUC-Le), ``cs_mo = sum_k min_{|S|=k} D(S)``
    (lower bound of AUC-Mo), ``cs_le_minus_cs_mo`` (a loose bound of Le-Mo), ``bound`` =
    ``sum_k max_{|S|=k} c(S)`` for ``objective`` in score units (the tight per-level bound; for ``mo``
    it equals ``-cs_mo``), ``bound_paper`` (the same in the paper's sign), ``level_bound`` (the t+1
    per-level maxima of c), ``level_sets`` (bitmasks of the per-level optimal sets s*_k of the
    objective; for ``mo`` the paper's deleted sets argmin D), ``avg_iou`` (eq. 5 of those sets),
    ``avg_iou_le``/``avg_iou_mo``/``avg_iou_le_mo`` for each family of sets, and
    ``random_mean`` = the exact expected score of a uniformly random trajectory
    (``sum_k mean_{|S|=k} c(S)``, since P_k is then a uniform k-subset).
    """
    d, t = _check_table(table)
    check_choice("objective", objective, OBJECTIVES)
    dmax, smax, dmin, smin, _ = kernels.level_extrema(d, t)
    lm = d - d[::-1]
    lmmax, lmset, _, _, _ = kernels.level_extrema(lm, t)
    c = objective_table(d, objective)
    cmax, cset, _, _, cmean = kernels.level_extrema(c, t)
    iou = {"le": avg_iou(smax, t), "mo": avg_iou(smin, t), "le-mo": avg_iou(lmset, t)}
    cs_le, cs_mo = float(dmax.sum()), float(dmin.sum())
    bound = float(cmax.sum())
    return {
        "objective": objective,
        "t": t,
        "cs_le": cs_le,
        "cs_mo": cs_mo,
        "cs_le_minus_cs_mo": cs_le - cs_mo,
        "bound": bound,
        "bound_paper": -bound if objective == "mo" else bound,
        "level_bound": cmax,
        "level_sets": smin if objective == "mo" else cset,
        "avg_iou": iou[objective],
        "avg_iou_le": iou["le"],
        "avg_iou_mo": iou["mo"],
        "avg_iou_le_mo": iou["le-mo"],
        "random_mean": float(cmean.sum()),
    }


def is_optimal(score: float, optimum: float, rtol: float = RTOL) -> bool:
    """Whether ``score`` reaches ``optimum`` within ``rtol * max(1, |optimum|)`` (the leaderboards' and
    difficulty measures' "optimal")."""
    return bool(score >= optimum - rtol * max(1.0, abs(optimum)))


def normalised_gap(optimum: float, score: float, random_mean: float, rtol: float = 0.0) -> float:
    """``(optimum - score) / (optimum - random_mean)``: 0 = optimal, 1 = a random order's mean score; 0
    when the optimum is no better than random (``optimum - random_mean <= rtol * max(1, |optimum|)``)."""
    denom = optimum - random_mean
    return float((optimum - score) / denom) if denom > rtol * max(1.0, abs(optimum)) else 0.0


def gap_report(
    problem_or_table: TraceProblem | ArrayLike,
    trajectory: ArrayLike,
    objective: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """How far a trajectory is from the exact optimum and the CS bounds.

    ``problem_or_table``: a ``TraceProblem`` (its complete table is computed: 2^t sets, minus cache
    hits) or a D table. ``objective`` defaults to the problem's. Returns a dict with ``score`` (the
    maximised chain sum), ``optimum``, ``optimal_trajectory``, ``bound`` (per-level bound of c),
    ``random_mean`` (expected score of a random trajectory), ``gap`` = optimum - score,
    ``normalised_gap`` = (optimum - score) / (optimum - random_mean) (0 = optimal, 1 = random),
    ``ratio_to_optimum`` = score / optimum, ``auc_le``, ``auc_mo``, ``le_mo`` of the trajectory,
    ``cs_le``, ``cs_mo``, ``ratio_trace_cs`` = (AUC-Le - AUC-Mo) / (CS-Le - CS-Mo) as the paper's
    Fig. 7(b) plots it, ``ratio_to_bound`` = score / bound, and the Avg.IoU values.
    """
    table: ArrayLike
    if isinstance(problem_or_table, TraceProblem):
        if objective is None:
            objective = problem_or_table.objective
        table = complete_table(problem_or_table, progress=progress)
    else:
        table = problem_or_table
        if objective is None:
            raise ValueError(f"objective is required when a table is given; expected one of {sorted(OBJECTIVES)}")
    d, t = _check_table(table)
    sigma = check_trajectory(trajectory, t, "trajectory")
    bounds = cs_bounds(d, objective)
    opt_sigma, opt = exact_optimum(d, objective)
    score = float(table_scores(d, objective, sigma))
    keys = prefix_bitmasks(sigma)
    auc_le = float(d[keys].sum())
    auc_mo = float(d[(1 << t) - 1 - keys].sum())  # MoRF deletion: D(all \ P_k) over k, in any order
    cs_lm = bounds["cs_le_minus_cs_mo"]
    return {
        "objective": objective,
        "t": t,
        "score": score,
        "optimum": opt,
        "optimal_trajectory": opt_sigma,
        "bound": bounds["bound"],
        "random_mean": bounds["random_mean"],
        "gap": opt - score,
        "normalised_gap": normalised_gap(opt, score, bounds["random_mean"]),
        "ratio_to_optimum": score / opt if opt != 0 else float("nan"),
        "ratio_to_bound": score / bounds["bound"] if bounds["bound"] != 0 else float("nan"),
        "auc_le": auc_le,
        "auc_mo": auc_mo,
        "le_mo": auc_le - auc_mo,
        "cs_le": bounds["cs_le"],
        "cs_mo": bounds["cs_mo"],
        "ratio_trace_cs": (auc_le - auc_mo) / cs_lm if cs_lm != 0 else float("nan"),
        "avg_iou": bounds["avg_iou"],
        "avg_iou_le": bounds["avg_iou_le"],
        "avg_iou_mo": bounds["avg_iou_mo"],
        "avg_iou_le_mo": bounds["avg_iou_le_mo"],
    }
