"""Checks used at the public boundary. Every error names the argument and what it accepts."""

from __future__ import annotations

import numbers
from collections.abc import Collection, Iterable
from typing import Any, Literal, cast, overload

import numpy as np
from numpy.typing import ArrayLike


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``; a ValueError naming ``name`` and listing them otherwise."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; expected one of {sorted(choices)}")
    return value


@overload
def check_positive_int(name: str, value: Any, minimum: int = 1, allow_none: Literal[False] = False) -> int: ...
@overload
def check_positive_int(name: str, value: Any, minimum: int = 1, allow_none: bool = False) -> int | None: ...
def check_positive_int(name: str, value: Any, minimum: int = 1, allow_none: bool = False) -> int | None:
    """``value`` as an int if it is an integer (not a bool) >= ``minimum``, or None when ``allow_none``;
    a ValueError naming ``name`` otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name}={value!r} is not valid; expected an integer >= {minimum}{none}")
    return int(value)


@overload
def check_positive_float(
    name: str, value: Any, allow_none: Literal[False] = False, allow_zero: bool = False
) -> float: ...
@overload
def check_positive_float(name: str, value: Any, allow_none: bool = False, allow_zero: bool = False) -> float | None: ...
def check_positive_float(name: str, value: Any, allow_none: bool = False, allow_zero: bool = False) -> float | None:
    """``value`` as a float if it is a finite real number > 0 (>= 0 with ``allow_zero``; not a bool), or None
    when ``allow_none``; a ValueError naming ``name`` otherwise."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(cast(float, value))
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is not valid; expected a finite number {bound}")
    return float(value)


def check_keywords(name: str, given: Iterable[str], accepted: Iterable[str], hint: str = "") -> None:
    """Refuse keywords of ``given`` outside ``accepted``, naming them and listing what is accepted."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; accepted: {sorted(accepted)}{hint}")


def check_finite_array(name: str, values: Any) -> None:
    """Refuse a numpy array / torch tensor (or nested list) that is not numeric or holds NaN or inf."""
    if hasattr(values, "detach"):  # a torch tensor (any device); numpy has no bfloat16: widen that
        values = values.detach().cpu()
        try:
            arr = np.asarray(values)
        except TypeError:
            arr = np.asarray(values.double())
    else:
        arr = np.asarray(values)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold numbers; got dtype {arr.dtype}")
    check_real(name, arr)
    _refuse_non_finite(arr, name, "expected finite numbers")


def check_real(name: str, values: Any) -> None:
    """Refuse complex values (a numpy array or torch tensor), which a cast to float would silently
    reduce to their real part."""
    if values is None:
        raise ValueError(f"{name} is None; give the input (an array or tensor of real numbers)")
    complex_ = values.is_complex() if hasattr(values, "is_complex") else np.iscomplexobj(values)
    if complex_:
        raise ValueError(
            f"{name} holds complex values; expected real numbers (a cast to float would drop the "
            "imaginary part: pass np.real(x) or np.abs(x) if that is what you mean)"
        )


def check_trajectory(sigma: ArrayLike, t: int, name: str = "trajectory") -> np.ndarray:
    """Return ``sigma`` as an int64 array after checking it is a permutation of 0..t-1."""
    arr = np.asarray(sigma)
    if arr.ndim != 1 or arr.shape[0] != t:
        raise ValueError(f"{name} must be a 1-D permutation of 0..{t - 1} (length {t}); got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must contain integers 0..{t - 1}; got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must contain integers 0..{t - 1}")
    arr = arr.astype(np.int64)
    seen = np.zeros(t, dtype=bool)
    if arr.min() < 0 or arr.max() >= t:
        raise ValueError(f"{name} must be a permutation of 0..{t - 1}; found values outside that range")
    seen[arr] = True
    if not seen.all():
        raise ValueError(
            f"{name} must be a permutation of 0..{t - 1}; it repeats a feature and misses {int((~seen).sum())}"
        )
    return arr


def check_finite_values(values: np.ndarray, where: str = "model output") -> None:
    """Refuse D(S) values (a model's answer) holding NaN or inf."""
    _refuse_non_finite(
        values, where, "D(S) must be finite for every set (check the model, the reference and the output= choice)"
    )


def _refuse_non_finite(values: ArrayLike, name: str, expected: str) -> None:
    """The shared test of ``check_finite_array`` and ``check_finite_values``: a ValueError naming ``name``
    and counting the NaN/inf entries, then ``expected``."""
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); {expected}")
