"""Budgets: what one solve may spend, and the limits an oracle enforces while it runs.

* ``Budget``: the user's limits of one solve: forward passes made by the solve (cache hits are free),
  seconds, iterations (``as_budget`` accepts an int, a dict or None).
* ``Limits``: what an oracle enforces: an absolute forward-pass count and a ``time.monotonic()``
  deadline. A solver installs them for the length of a solve with ``oracle.limited(limits)`` (a
  scope: the oracle's previous limits come back afterwards, so an oracle reused across solves carries
  nothing over; a nested solve can only tighten them), and ``reserve`` keeps a share of what is left for
  a later phase (e.g. polishing).
* ``BudgetExhausted``: raised by an oracle for a request that would pass a limit; ``reason`` is
  ``"budget"`` (forward passes) or ``"time"``. Nothing of the refused request is evaluated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from trace_opt.core.validation import check_positive_float, check_positive_int

#: the reasons a solve can stop early by its limits (``BudgetExhausted.reason``)
REASONS = ("budget", "time")


class BudgetExhausted(Exception):
    """Raised by an oracle when a request would exceed its forward-pass or time limit.

    ``reason``: ``"budget"`` or ``"time"``. Nothing of the refused request is evaluated; the cache and
    counters stay consistent.
    """

    def __init__(self, message: str, reason: str = "budget"):
        super().__init__(message)
        self.reason = reason


#: the largest forward-pass budget accepted (a larger number is no limit in practice and overflows int64 maths)
MAX_PASSES = 10**15


@dataclass(frozen=True)
class Budget:
    """Limits of one solve. ``forward_passes`` counts passes made by this solve (cache hits are free)."""

    forward_passes: int | None = None
    seconds: float | None = None
    iterations: int | None = None

    def __post_init__(self):
        check_positive_int("budget.forward_passes", self.forward_passes, allow_none=True)
        if self.forward_passes is not None and self.forward_passes > MAX_PASSES:
            raise ValueError(
                f"budget.forward_passes={self.forward_passes} is more than any search can make (at most "
                f"{MAX_PASSES:.0e}, which is also past int64 arithmetic); use None for no limit"
            )
        check_positive_float("budget.seconds", self.seconds, allow_none=True)
        check_positive_int("budget.iterations", self.iterations, allow_none=True)


#: what ``as_budget`` (and every ``budget=`` argument) accepts: forward passes, a dict of ``Budget`` fields, a
#: ``Budget``, or None (no limit)
BudgetLike: TypeAlias = "int | np.integer | dict[str, Any] | Budget | None"


def as_budget(budget: BudgetLike) -> Budget:
    """Accept a Budget, None (no limit), an int (forward passes) or a dict of Budget fields."""
    if budget is None:
        return Budget()
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, dict):
        unknown = set(budget) - {"forward_passes", "seconds", "iterations"}
        if unknown:
            raise ValueError(f"budget has unknown keys {sorted(unknown)}; expected forward_passes, seconds, iterations")
        return Budget(**budget)
    if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
        return Budget(forward_passes=int(budget))
    raise ValueError(f"budget={budget!r} is not valid; expected a positive int (forward passes), a dict or a Budget")


def _tighter(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


class PassHold:
    """Passes a solve keeps back from its search (to score and draw its final trajectory within the budget);
    mutable, so the solve can release them while limits derived from it are in force."""

    def __init__(self, passes: int = 0):
        self.passes = int(passes)


@dataclass(frozen=True)
class Limits:
    """What an oracle enforces: refuse a request that would take its ``forward_passes`` counter past
    ``forward_passes`` less the passes ``held`` back (``PassHold``), or any request after ``time.monotonic()``
    passed ``deadline`` (None: no limit)."""

    forward_passes: int | None = None
    deadline: float | None = None
    held: PassHold | None = None

    @property
    def effective_passes(self) -> int | None:
        """The pass limit less what is held back now."""
        if self.forward_passes is None:
            return None
        return self.forward_passes - (self.held.passes if self.held is not None else 0)

    @classmethod
    def of_budget(cls, budget: Budget, passes_now: int, start: float) -> "Limits":
        """A budget as absolute limits, for a solve starting at ``passes_now`` passes and time ``start``."""
        return cls(
            None if budget.forward_passes is None else passes_now + budget.forward_passes,
            None if budget.seconds is None else start + budget.seconds,
        )

    def tightened(self, other: "Limits") -> "Limits":
        """The stricter of two limits, field by field (the pass limit compared after what each holds back)."""
        mine, theirs = self.effective_passes, other.effective_passes
        passes_from = other if mine is None or (theirs is not None and theirs < mine) else self
        return Limits(passes_from.forward_passes, _tighter(self.deadline, other.deadline), passes_from.held)

    def reserve(self, share: float, passes_now: int, now: float) -> "Limits":
        """These limits with ``share`` of what is left of each kept back for later."""
        keep = 1.0 - float(share)
        limit = self.effective_passes
        passes = None if limit is None else passes_now + int(max(0, limit - passes_now) * keep)
        deadline = None if self.deadline is None else now + max(0.0, self.deadline - now) * keep
        return Limits(passes, deadline)

    def check(self, passes_now: int, n_new: int) -> None:
        """Raise ``BudgetExhausted`` if ``n_new`` more passes, or the time, would pass a limit."""
        limit = self.effective_passes
        if limit is not None and passes_now + n_new > limit:
            raise BudgetExhausted(f"{n_new} forward pass(es) requested with {limit - passes_now} left", "budget")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExhausted("time limit reached", "time")
