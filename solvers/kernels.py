"""numba kernels of the solvers: dynamic programming over a subset lattice and per-level statistics.

Sets are integer bitmasks: bit i set means feature (or window element) i is in the set. Arrays of
length ``2^t`` are indexed by bitmask. Kernels are pure functions of arrays (no numba types leak out).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def chain_dp(c):
    """Best maximal chain in the lattice of subsets of ``{0..t-1}``.

    ``c``: float64 array of length ``2^t``, ``c[S]`` for each bitmask S. Solves
    ``V({}) = c({})``, ``V(S) = c(S) + max_{i in S} V(S \\ {i})`` visiting S in increasing integer
    order (``S \\ {i} < S``). Returns ``(sigma, V(all))`` where ``sigma`` is the optimal order
    (``sigma[|S|-1]`` = the element removed from S by backtracking from the full set).
    O(t 2^t) time, 2^t floats + 2^t argmax bytes.

    Tie rule (the toolkit's one rule, DESIGN.md section 4: among equally good features the lower index
    is the less important, i.e. earlier in sigma): among predecessors ``S \\ {i}`` with exactly equal
    ``V`` the **highest** i is removed, so it takes the later (more important) position. On an additive
    objective with tied weights this returns the stable ascending sort, the order
    ``rankings.attribution_to_trajectory`` gives. Ties are exact float equalities; near-ties within
    rounding are counted by ``chain_count_dp`` (``complete.count_optimal_trajectories``) but broken by value here.
    """
    n = c.shape[0]
    t = 0
    while (1 << t) < n:
        t += 1
    V = np.empty(n, dtype=np.float64)
    arg = np.empty(n, dtype=np.uint8)
    V[0] = c[0]
    arg[0] = 255
    for S in range(1, n):
        best = -np.inf
        bi = 0
        for i in range(t):
            if (S >> i) & 1:
                v = V[S ^ (1 << i)]
                if v >= best:  # >=: exact ties go to the highest i (the tie rule above)
                    best = v
                    bi = i
        V[S] = c[S] + best
        arg[S] = bi
    sigma = np.empty(t, dtype=np.int64)
    S = n - 1
    for pos in range(t - 1, -1, -1):
        i = np.int64(arg[S])
        sigma[pos] = i
        S ^= 1 << i
    return sigma, V[n - 1]


@njit(cache=True)
def level_extrema(values, t):
    """Per-level (set size k = 0..t) maximum and minimum of ``values[S]`` and their first argmax/argmin
    bitmasks (ties: lowest integer S). Also the per-level mean (the exact expectation of ``values``
    over a uniformly random k-subset). Returns ``(vmax, smax, vmin, smin, vmean)``."""
    n = 1 << t
    vmax = np.full(t + 1, -np.inf)
    vmin = np.full(t + 1, np.inf)
    smax = np.zeros(t + 1, dtype=np.int64)
    smin = np.zeros(t + 1, dtype=np.int64)
    vsum = np.zeros(t + 1)
    cnt = np.zeros(t + 1)
    k = 0
    for S in range(n):
        # popcount inline (Kernighan)
        k = 0
        s = S
        while s:
            s &= s - 1
            k += 1
        v = values[S]
        if v > vmax[k]:
            vmax[k] = v
            smax[k] = S
        if v < vmin[k]:
            vmin[k] = v
            smin[k] = S
        vsum[k] += v
        cnt[k] += 1.0
    return vmax, smax, vmin, smin, vsum / cnt


@njit(cache=True)
def synthetic_table(t, seed):
    """A reproducible synthetic deletion table for speed measurements: ``D(S) = sum_{i in S} w_i +
    sum_{i<j in S} u_ij`` with weights from a linear congruential stream seeded by ``seed``."""
    n = 1 << t
    state = np.uint64(seed * 2654435761 + 12345)
    w = np.empty(t)
    u = np.empty((t, t))
    for i in range(t):
        state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
        w[i] = ((state >> np.uint64(11)) / 9007199254740992.0) - 0.5
        for j in range(t):
            state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
            u[i, j] = (((state >> np.uint64(11)) / 9007199254740992.0) - 0.5) / t
    D = np.empty(n)
    for S in range(n):
        acc = 0.0
        for i in range(t):
            if (S >> i) & 1:
                acc += w[i]
                for j in range(i + 1, t):
                    if (S >> j) & 1:
                        acc += u[i, j]
        D[S] = acc
    return D


@njit(cache=True)
def chain_count_dp(c, tol):
    """V(S) as in ``solvers.kernels.chain_dp`` and N(S) = the number of chains from {} to S whose sum is
    within ``tol`` of V(S) at every step (float64 counts). Returns ``(V(all), N(all))``."""
    n = c.shape[0]
    t = 0
    while (1 << t) < n:
        t += 1
    V = np.empty(n, dtype=np.float64)
    N = np.empty(n, dtype=np.float64)
    V[0] = c[0]
    N[0] = 1.0
    for S in range(1, n):
        best = -np.inf
        for i in range(t):
            if (S >> i) & 1:
                v = V[S ^ (1 << i)]
                if v > best:
                    best = v
        cnt = 0.0
        for i in range(t):
            if (S >> i) & 1:
                P = S ^ (1 << i)
                if V[P] >= best - tol:
                    cnt += N[P]
        V[S] = c[S] + best
        N[S] = cnt
    return V[n - 1], N[n - 1]
