"""numba kernels of the neighbourhoods: sample and apply one move from fixed uniform draws.

A move is computed from ``N_DRAWS`` uniform numbers in [0, 1) (always the same count, whatever the
move), so a caller can draw them in advance (``rng.random((K, N_DRAWS))``) and a compiled loop
reproduces exactly the moves of the Python loop on the same random stream.

Every kernel writes the new trajectory into ``out`` and returns ``(lo, hi)`` with ``lo < hi``:
``out`` differs from ``sigma`` only at positions ``lo..hi`` and the changed prefix sets are exactly
``P_k`` for ``lo < k <= hi`` (proved per move in ``neighbourhoods.base``, checked by the tests).
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_DRAWS = 4  # uniform draws consumed by every proposal

# move kinds (integers so a compiled loop can dispatch on them)
KIND_COMPLETE = 0  # swap two positions, uniform over the t(t-1)/2 pairs
KIND_EDGES_POS = 1  # swap the two positions of a uniformly drawn edge (graph on positions)
KIND_EDGES_FEAT = 2  # swap two features of a uniformly drawn edge, wherever they are (graph on features)
KIND_VI = 3  # vertex insertion: take the element at position i, insert it at position j
KIND_BR = 4  # block reverse: reverse positions i..j
KIND_BI = 5  # block insertion: swap the adjacent blocks [a, m-1] and [m, c]
KIND_MIX = 6  # BR, VI or BI with probabilities probs[0], probs[1], 1 - probs[0] - probs[1]


@njit(cache=True)
def _index(u, n):
    """floor(u * n) for u in [0, 1), clamped to n - 1 against rounding."""
    i = np.int64(u * n)
    if i >= n:
        i = n - 1
    return i


@njit(cache=True)
def _pair(u0, u1, t):
    """Two distinct positions, uniform over the t(t-1)/2 unordered pairs; returned sorted."""
    i = _index(u0, t)
    j = _index(u1, t - 1)
    if j >= i:
        j += 1
    if i < j:
        return i, j
    return j, i


@njit(cache=True)
def swap_positions(sigma, i, j, out):
    """out = sigma with positions i < j swapped; returns (i, j)."""
    out[:] = sigma
    out[i] = sigma[j]
    out[j] = sigma[i]
    return i, j


@njit(cache=True)
def vertex_insertion(sigma, i, j, out):
    """out = sigma with the element at position i removed and re-inserted at position j (i != j)."""
    out[:] = sigma
    x = sigma[i]
    if i < j:
        for p in range(i, j):
            out[p] = sigma[p + 1]
        out[j] = x
        return i, j
    for p in range(i, j, -1):
        out[p] = sigma[p - 1]
    out[j] = x
    return j, i


@njit(cache=True)
def block_reverse(sigma, i, j, out):
    """out = sigma with positions i..j (i < j) reversed."""
    out[:] = sigma
    for p in range(i, j + 1):
        out[p] = sigma[i + j - p]
    return i, j


@njit(cache=True)
def block_insertion(sigma, a, m, c, out):
    """out = sigma with the blocks [a, m-1] and [m, c] exchanged (a < m <= c)."""
    out[:] = sigma
    q = a
    for p in range(m, c + 1):
        out[q] = sigma[p]
        q += 1
    for p in range(a, m):
        out[q] = sigma[p]
        q += 1
    return a, c


@njit(cache=True)
def apply_move(kind, sigma, u, edges, probs, out):
    """Sample one move of ``kind`` from the draws ``u[0..N_DRAWS-1]``, write it to ``out``; return (lo, hi).

    ``edges`` (E x 2, int64) is used by the graph kinds; ``probs`` (BR, VI) by ``KIND_MIX``.
    """
    t = sigma.shape[0]
    if kind == KIND_MIX:
        r = u[3]
        if r < probs[0]:
            kind = KIND_BR
        elif r < probs[0] + probs[1]:
            kind = KIND_VI
        else:
            kind = KIND_BI
    if kind == KIND_COMPLETE:
        i, j = _pair(u[0], u[1], t)
        return swap_positions(sigma, i, j, out)
    if kind == KIND_EDGES_POS:
        e = _index(u[0], edges.shape[0])
        i = edges[e, 0]
        j = edges[e, 1]
        if i > j:
            i, j = j, i
        return swap_positions(sigma, i, j, out)
    if kind == KIND_EDGES_FEAT:
        e = _index(u[0], edges.shape[0])
        fa = edges[e, 0]
        fb = edges[e, 1]
        i = -1
        j = -1
        for p in range(t):
            if sigma[p] == fa or sigma[p] == fb:
                if i < 0:
                    i = p
                else:
                    j = p
        return swap_positions(sigma, i, j, out)
    if kind == KIND_VI:
        i = _index(u[0], t)
        j = _index(u[1], t - 1)
        if j >= i:
            j += 1
        return vertex_insertion(sigma, i, j, out)
    if kind == KIND_BR:
        i, j = _pair(u[0], u[1], t)
        return block_reverse(sigma, i, j, out)
    # KIND_BI
    a, c = _pair(u[0], u[1], t)
    m = a + 1 + _index(u[2], c - a)
    return block_insertion(sigma, a, m, c, out)
