"""The neighbourhood interface, a registry by name, and complete transpositions."""
from __future__ import annotations

import numpy as np

NEIGHBOURHOODS: dict[str, type] = {}


def register_neighbourhood(name: str):
    def deco(cls):
        NEIGHBOURHOODS[name] = cls
        cls.name = name
        return cls
    return deco


class Neighbourhood:
    """Base class. Subclasses implement ``propose``; ``t`` is set by ``bind``."""

    name = "base"

    def bind(self, t: int) -> "Neighbourhood":
        """Prepare for trajectories of length t (validates; returns self)."""
        if t < 2:
            raise ValueError(f"a neighbourhood needs t >= 2 features; got t={t}")
        self.t = int(t)
        return self

    def propose(self, sigma: np.ndarray, rng: np.random.Generator):
        """Return ``(new_sigma, lo, hi)`` for one random neighbour of ``sigma``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register_neighbourhood("complete")
class CompleteTranspositions(Neighbourhood):
    """Swap the features at any two positions (the complete graph; Cayley diameter t-1)."""

    def propose(self, sigma, rng):
        i, j = rng.choice(self.t, size=2, replace=False)
        lo, hi = (int(i), int(j)) if i < j else (int(j), int(i))
        new = sigma.copy()
        new[lo], new[hi] = sigma[hi], sigma[lo]
        return new, lo, hi


def get_neighbourhood(spec, t: int) -> Neighbourhood:
    """A neighbourhood from a name in ``NEIGHBOURHOODS`` or a ``Neighbourhood`` instance, bound to t."""
    if isinstance(spec, Neighbourhood):
        return spec.bind(t)
    if isinstance(spec, str) and spec in NEIGHBOURHOODS:
        return NEIGHBOURHOODS[spec]().bind(t)
    raise ValueError(f"neighbourhood={spec!r} is not valid; expected a Neighbourhood or one of {sorted(NEIGHBOURHOODS)}")
