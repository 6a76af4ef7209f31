"""Scoring moves at large t in bounded memory (private).

``problem.move_deltas`` builds, per changed prefix set, an int64 rank row and a bool mask row (9t bytes);
a batch of long moves at t = 10,000 (64 swaps of mean span t/3) would need gigabytes at once.
``move_deltas_in_pieces`` cuts the batch into pieces of at most ``max_sets(t)`` sets (one oracle batch
each), cutting a long move into sub-ranges whose deltas add up; a batch that fits (always at t = 49) is
one piece, so small-t searches are unchanged.
"""

from __future__ import annotations

import numpy as np

#: bool-mask and rank bytes of one scoring piece: 64 MB
MASK_BYTES = 1 << 26


def max_sets(t: int) -> int:
    """Changed prefix sets per scoring piece at t features (9t bytes per set)."""
    return max(1, MASK_BYTES // (9 * t))


def move_deltas_in_pieces(problem, sigma, chain, cand, lo, hi):
    """``problem.move_deltas(sigma, chain, cand, lo, hi)`` in pieces of at most ``max_sets(t)`` changed prefix
    sets: the same ``(deltas, segments)`` (deltas summed per piece: equal up to float rounding). A budget
    stop refuses a piece; the pieces before it stay cached."""
    cap = max_sets(problem.t)
    sizes = np.asarray(hi) - np.asarray(lo)
    if int(sizes.sum()) <= cap:
        return problem.move_deltas(sigma, chain, cand, lo, hi)
    cand = np.asarray(cand).reshape(-1, problem.t)
    deltas = np.zeros(len(cand))
    segments = [[] for _ in range(len(cand))]
    rows, a_s, b_s = [], [], []

    def flush():
        if rows:
            d, segs = problem.move_deltas(sigma, chain, cand[rows], np.array(a_s), np.array(b_s))
            for r, dr, sg in zip(rows, d, segs):
                deltas[r] += dr
                segments[r].append(sg)
            rows.clear(), a_s.clear(), b_s.clear()

    used = 0
    for m in range(len(cand)):
        a, h = int(lo[m]), int(hi[m])
        while a < h:  # the sub-range a..b: the prefix sets P_k, a < k <= b
            if used == cap:
                flush()
                used = 0
            b = min(h, a + cap - used)
            rows.append(m), a_s.append(a), b_s.append(b)
            used += b - a
            a = b
    flush()
    return deltas, [np.concatenate(sg) for sg in segments]
