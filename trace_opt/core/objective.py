"""The three TRACE objectives, defined once (DESIGN.md section 2).

Every solver **maximises** ``score(sigma) = sum_k c(P_k)`` over the prefix sets ``P_k`` of a trajectory:

* ``le``:    ``c(S) = D(S)``               score = AUC-Le (paper's value: the same)
* ``mo``:    ``c(S) = -D(all \\ S)``        score = -AUC-Mo (paper's value: AUC-Mo = -score)
* ``le-mo``: ``c(S) = D(S) - D(all \\ S)``  score = AUC-Le - AUC-Mo (paper's TRACE-(Le-Mo))

An ``Objective`` is its name (a ``str``: ``Objective("le-mo") == "le-mo"``) with that rule attached:
which sets it asks the oracle for (``request_masks``), how ``c`` follows from their values
(``combine``), ``c`` of every set of a 2^t table (``table``) and the paper's sign (``to_paper``). The
numba kernels (``trace_opt.core.kernels.request_keys`` / ``chain_from_values``) are the compiled form of the
same rule, selected by ``code``; a test checks that both agree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

OBJECTIVES = ("le", "mo", "le-mo")
_CODES = {"le": 0, "mo": 1, "le-mo": 2}


class Objective(str):
    """One of ``OBJECTIVES`` with its rule (see the module docstring)."""

    def __new__(cls, name: str) -> Objective:
        if isinstance(name, Objective):
            return name
        if not isinstance(name, str) or name not in _CODES:
            raise ValueError(f"objective={name!r} is not valid; expected one of {list(OBJECTIVES)}")
        return super().__new__(cls, name)

    @property
    def code(self) -> int:
        """The kernels' code: 0 = le, 1 = mo, 2 = le-mo."""
        return _CODES[str(self)]

    @property
    def needs_set(self) -> bool:
        """True when c(S) reads D(S)."""
        return self != "mo"

    @property
    def needs_complement(self) -> bool:
        """True when c(S) reads D(all \\ S)."""
        return self != "le"

    def combine(self, d_set: ArrayLike | None, d_complement: ArrayLike | None) -> np.ndarray:
        """``c`` from ``D(S)`` and ``D(all \\ S)`` (either may be None when not needed)."""
        if self == "le":
            return np.asarray(d_set)
        if self == "mo":
            return -np.asarray(d_complement)
        return np.asarray(d_set) - np.asarray(d_complement)

    def request_masks(self, masks: np.ndarray) -> np.ndarray:
        """The sets to ask the oracle for, for the rows of ``masks``: S, all \\ S, or both (S first)."""
        if self == "le":
            return masks
        if self == "mo":
            return ~masks
        return np.concatenate([masks, ~masks])

    def from_values(self, values: ArrayLike, n: int) -> np.ndarray:
        """``c`` of n sets from the oracle's values for ``request_masks`` (same layout)."""
        values = np.asarray(values)
        if self == "le-mo":
            return self.combine(values[:n], values[n:])
        return self.combine(values, None) if self == "le" else self.combine(None, values)

    def table(self, d: np.ndarray) -> np.ndarray:
        """``c(S)`` for every bitmask S of a D table indexed by bitmask (``d[full ^ S] = d[::-1][S]``)."""
        return self.combine(d, None) if self == "le" else self.combine(d, d[::-1])

    def to_paper(self, score: float) -> float:
        """The score in the paper's sign: AUC-Le (le), AUC-Mo (mo, lower is better), AUC-Le - AUC-Mo."""
        return -score if self == "mo" else score


def get_objective(objective: str) -> Objective:
    """``objective`` (a name or an ``Objective``) as an ``Objective``; a ValueError naming it otherwise."""
    return Objective(objective)
