"""numba kernels of simulated annealing: one proposal with its oracle requests, Metropolis assessment,
batches of speculative proposals, and a fully compiled SA loop over a synthetic set function.

Conventions: sets are uint64 bitmasks (t <= 64); objective codes as in ``trace_opt.core.kernels``; every
iteration consumes one row of ``N_DRAWS + 1`` uniform draws (``N_DRAWS`` for the move, the last for
the Metropolis test), so the Python loops and the compiled loop follow the same random stream.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neighbourhoods.kernels import N_DRAWS, apply_move
from trace_opt.core.kernels import (
    accumulate_delta,
    chain_from_values,
    chain_sum,
    prefix_keys,
    request_keys,
    segment_keys,
    synthetic_values,
)

ROW = N_DRAWS + 1  # draws per SA iteration


@njit(cache=True)
def metropolis(delta, T, u):
    """Accept an improvement always, a worse move with probability exp(delta / T) (u uniform in [0, 1))."""
    return delta >= 0.0 or u < math.exp(delta / T)


@njit(cache=True)
def propose_requests(kind, sigma, keys, u, edges, probs, full, objective, new_out, seg_out, req_out):
    """Draw a move from ``u``, write it to ``new_out``, its changed prefix keys to ``seg_out`` and the
    oracle keys they need to ``req_out``. Returns ``(lo, hi, n_requests)``."""
    lo, hi = apply_move(kind, sigma, u, edges, probs, new_out)
    n = segment_keys(new_out, keys[lo], lo, hi, seg_out)
    nreq = request_keys(seg_out, n, full, objective, req_out)
    return lo, hi, nreq


@njit(cache=True)
def assess(vals, chain, lo, hi, objective, seg_c, T, u):
    """``(delta, accepted)`` of a move whose D values are ``vals``; new c(P_k) go to ``seg_c``."""
    delta = accumulate_delta(vals, chain, lo, hi, objective, seg_c)
    return delta, metropolis(delta, T, u)


@njit(cache=True)
def propose_batch(
    kind, sigma, keys, draws, m, edges, probs, full, objective, new_out, lo_out, hi_out, seg_out, req_out, req_off
):
    """m proposals from the same state (rows of ``draws``), their requests concatenated in ``req_out``
    (proposal j owns ``req_out[req_off[j]:req_off[j+1]]``)."""
    req_off[0] = 0
    for j in range(m):
        lo, hi, nreq = propose_requests(
            kind, sigma, keys, draws[j], edges, probs, full, objective, new_out[j], seg_out[j], req_out[req_off[j] :]
        )
        lo_out[j] = lo
        hi_out[j] = hi
        req_off[j + 1] = req_off[j] + nreq
    return req_off[m]


@njit(cache=True)
def scan_batch(vals, req_off, chain, lo, hi, draws, m, objective, T, eta, threshold, floor, seg_c):
    """Walk m speculative proposals in order as sequential SA would: stop at the first accepted one.

    Returns ``(consumed, accepted_index or -1, delta, T, below_threshold)``. ``T`` is the
    temperature after the consumed iterations (cooled once per iteration to no less than ``floor``,
    as the sequential loop); ``threshold`` > 0 ends the run below it.
    """
    for j in range(m):
        delta = accumulate_delta(vals[req_off[j] : req_off[j + 1]], chain, lo[j], hi[j], objective, seg_c)
        ok = metropolis(delta, T, draws[j, N_DRAWS])
        T = max(T * eta, floor)
        below = threshold > 0.0 and T < threshold
        if ok:
            return j + 1, j, delta, T, below
        if below:
            return j + 1, -1, 0.0, T, below
    return m, -1, 0.0, T, False


@njit(cache=True)
def sa_synthetic(sigma0, draws, T0, eta, threshold, kind, edges, probs, objective, full, A, U, V, width):
    """Simulated annealing compiled end to end over the synthetic set function.

    The same steps, in the same floating-point order, as ``SimulatedAnnealing`` with incremental
    evaluation: one row of ``draws`` per iteration, deltas from the changed prefixes only.
    Returns ``(sigma, best_sigma, best_score, improvement_scores, improvement_iterations,
    iterations, accepted)``; improvements include the initial trajectory (iteration -1).
    """
    t = sigma0.shape[0]
    K = draws.shape[0]
    sigma = sigma0.copy()
    new = np.empty(t, dtype=np.int64)
    keys = np.empty(t + 1, dtype=np.uint64)
    prefix_keys(sigma, keys)
    seg = np.empty(t, dtype=np.uint64)
    req = np.empty(2 * (t + 1), dtype=np.uint64)
    seg_c = np.empty(t + 1, dtype=np.float64)
    chain = np.empty(t + 1, dtype=np.float64)
    # initial chain: all t+1 prefixes in one request, as the Python solver does
    nreq = request_keys(keys, t + 1, full, objective, req)
    vals = synthetic_values(req[:nreq], A, U, V, width)
    chain_from_values(vals, t + 1, objective, chain)
    score = chain_sum(chain)
    best = score
    best_sigma = sigma.copy()
    imp_scores = np.empty(K + 1, dtype=np.float64)
    imp_iters = np.empty(K + 1, dtype=np.int64)
    n_imp = 1
    imp_scores[0] = score
    imp_iters[0] = -1
    T = T0
    accepted = 0
    it = 0
    while it < K:
        lo, hi, nreq = propose_requests(kind, sigma, keys, draws[it], edges, probs, full, objective, new, seg, req)
        vals = synthetic_values(req[:nreq], A, U, V, width)
        delta = accumulate_delta(vals, chain, lo, hi, objective, seg_c)
        if metropolis(delta, T, draws[it, N_DRAWS]):
            accepted += 1
            for p in range(lo, hi + 1):
                sigma[p] = new[p]
            n = hi - lo
            for i in range(n):
                chain[lo + 1 + i] = seg_c[i]
                keys[lo + 1 + i] = seg[i]
            score += delta
            if score > best:
                score = chain_sum(chain)
                if score > best:
                    best = score
                    best_sigma[:] = sigma
                    imp_scores[n_imp] = score
                    imp_iters[n_imp] = it
                    n_imp += 1
        it += 1
        T *= eta
        if threshold > 0.0 and T < threshold:
            break
    return sigma, best_sigma, best, imp_scores[:n_imp], imp_iters[:n_imp], it, accepted


@njit(cache=True)
def range_delta(new_chain, chain, lo, hi):
    """``sum_k (new_chain[k] - chain[k])`` for k = lo+1..hi in increasing k (the rounding of
    ``accumulate_delta``, so full and incremental evaluation take identical decisions)."""
    delta = 0.0
    for k in range(lo + 1, hi + 1):
        delta += new_chain[k] - chain[k]
    return delta
