"""Instance families with a difficulty knob: seeded generators of set functions D(S), frozen into instances.

The digits-CNN instances are nearly additive (a first-order fit explains ~90 % of D's variance),
so greedy is often optimal and solvers cannot be told apart on them. The generators here make
D(S) whose interaction strength is a parameter, from additive (greedy optimal) to strongly
interacting (greedy far from the optimum), for t up to ``instances.MAX_T`` (24) with exact optima
by the lattice DP of ``solvers.complete``.

Family ``logic`` (``LogicSetFunction``): with ``x_i = 1`` when feature i is kept (not deleted),

    z(x) = (1 - interaction) * A(x) / sd_A + interaction * I(x) / sd_I
    A(x) = sum_i w_i x_i                                  w_i ~ N(0, 1)
    I(x) = sum_j a_j g_j(x restricted to group G_j)       a_j ~ N(0, 1), |G_j| = order
    D(S) = z                                              (saturation = 0)
         = tanh(saturation * z) / saturation              (saturation > 0: a saturating output)

where each term g_j is an AND (all of G_j kept), an OR (any kept) or an XOR (odd number kept) of
its group, drawn uniformly from ``kinds``; groups are ``order`` distinct features drawn at random.
``sd_A`` and ``sd_I`` are the standard deviations of A and of I over a uniformly random set (I's
assuming independent terms: ``sum_j a_j^2 p_j (1 - p_j)``), so ``interaction`` in [0, 1] moves the
weight from the additive part (0: additive, R^2 = 1) to the interaction part (1: only interactions;
XOR terms have no first-order part, AND/OR terms a small one). ``order`` (>= 2) is the size of the
interacting groups, ``terms`` their number (default t). Everything is drawn from ``seed``.

Family ``chunks`` (``trace_opt.core.synthetic.SyntheticSetFunction``): the speed-measurement function
(per-feature weights plus arbitrary interactions inside chunks of ``width`` features and between
neighbouring chunks), with its own ``interaction`` knob (>= 0, unbounded).

``family_instance(family, t, seed, **params)`` evaluates all 2^t sets into an ``Instance``
(metadata: ``family``, ``generator``, ``params``, ``seed``; difficulty measures in
``metadata["difficulty"]``); ``build_family_library`` writes a library of them, and
``python -m trace_opt instances generate`` does the same from the command line. The hard sample
library ``instances/hard/`` is built that way (its README has the command).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trace_opt.benchmarks.instances import _paths, instance_from_table, keep_existing, save_instance
from trace_opt.core.oracle import SetFunctionOracle
from trace_opt.core.synthetic import SyntheticSetFunction
from trace_opt.core.table import check_table_size
from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int

KINDS = ("and", "or", "xor")
#: rows per vectorised chunk when a whole table is evaluated
_CHUNK = 1 << 16


def _kept_bits(keys: np.ndarray, t: int) -> np.ndarray:
    """(B, t) uint8: 1 where feature i is kept (bit i of the key clear)."""
    k = np.asarray(keys, dtype=np.uint64)
    return (((k[:, None] >> np.arange(t, dtype=np.uint64)) & np.uint64(1)) == 0).astype(np.uint8)


class LogicSetFunction:
    """Additive part plus random AND / OR / XOR terms over small feature groups, optionally saturated.

    See the module docstring for the formula. ``interaction`` in [0, 1] is the difficulty knob
    (0 = additive); ``order`` the group size of the interactions; ``terms`` their number (default
    t); ``kinds`` the term types drawn from; ``saturation`` >= 0 the tanh saturation of the output.
    Call it on bool deletion masks (B, t) (``SetFunctionOracle``); ``values(keys)`` takes uint64
    bitmasks (bit i = feature i deleted); ``table()`` gives all 2^t values by bitmask.
    """

    family = "logic"

    def __init__(
        self,
        t: int,
        seed: int = 0,
        interaction: float = 0.5,
        order: int = 3,
        terms: int | None = None,
        kinds=KINDS,
        saturation: float = 0.0,
    ):
        self.t = check_positive_int("t", t, minimum=2)
        if self.t > 63:
            raise ValueError(f"t={t} is not valid; LogicSetFunction keys sets by uint64 (t <= 63)")
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.interaction = check_positive_float("interaction", interaction, allow_zero=True)
        if self.interaction > 1:
            raise ValueError(f"interaction={interaction!r} is not valid; expected a number in [0, 1]")
        self.order = check_positive_int("order", order, minimum=2)
        if self.order > self.t:
            raise ValueError(f"order={order!r} is not valid; expected 2..t (t={self.t})")
        self.terms = self.t if terms is None else check_positive_int("terms", terms)
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not kinds:
            raise ValueError(f"kinds is empty; expected a non-empty list from {list(KINDS)}")
        for k in kinds:
            check_choice("kinds", k, KINDS)
        self.kinds = kinds
        self.saturation = check_positive_float("saturation", saturation, allow_zero=True)
        rng = np.random.default_rng(self.seed)
        self.weights = rng.normal(size=self.t)
        self.groups = np.stack([rng.choice(self.t, size=self.order, replace=False) for _ in range(self.terms)])
        self.term_kinds = [kinds[int(j)] for j in rng.integers(len(kinds), size=self.terms)]
        self.term_weights = rng.normal(size=self.terms)
        p = np.array([{"and": 2.0**-self.order, "or": 1 - 2.0**-self.order, "xor": 0.5}[k] for k in self.term_kinds])
        self.sd_additive = float(np.sqrt(np.sum(self.weights**2) / 4))
        self.sd_interaction = float(np.sqrt(np.sum(self.term_weights**2 * p * (1 - p))))

    def params(self) -> dict:
        """The constructor's arguments as JSON values (what an instance's metadata records)."""
        return {
            "t": self.t,
            "seed": self.seed,
            "interaction": self.interaction,
            "order": self.order,
            "terms": self.terms,
            "kinds": list(self.kinds),
            "saturation": self.saturation,
        }

    def _from_kept(self, x: np.ndarray) -> np.ndarray:
        # elementwise sums in a fixed order (no matrix product): a set's value does not depend on the
        # batch it is computed in, so D is a set function to the last bit
        additive = np.zeros(x.shape[0])
        for i in range(self.t):
            additive += self.weights[i] * x[:, i]
        g = x[:, self.groups]  # (B, terms, order)
        inter = np.zeros(x.shape[0])
        for j, kind in enumerate(self.term_kinds):
            gj = g[:, j, :]
            if kind == "and":
                val = gj.min(axis=1)
            elif kind == "or":
                val = gj.max(axis=1)
            else:
                val = gj.sum(axis=1) & 1
            inter += self.term_weights[j] * val
        a = self.interaction
        z = (1 - a) * additive / max(self.sd_additive, 1e-300) + a * inter / max(self.sd_interaction, 1e-300)
        if self.saturation > 0:
            z = np.tanh(self.saturation * z) / self.saturation
        return z

    def values(self, keys) -> np.ndarray:
        """D(S) for uint64 bitmasks (bit i = feature i deleted)."""
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
        out = np.empty(len(keys))
        for start in range(0, len(keys), _CHUNK):
            out[start : start + _CHUNK] = self._from_kept(_kept_bits(keys[start : start + _CHUNK], self.t))
        return out

    def __call__(self, masks) -> np.ndarray:
        m = np.asarray(masks, dtype=bool).reshape(-1, self.t)
        return self._from_kept((~m).astype(np.uint8))

    def table(self) -> np.ndarray:
        """All 2^t values indexed by bitmask."""
        return _table(self)

    def oracle(self, cache: bool = True) -> SetFunctionOracle:
        """A counted, cached oracle over this function."""
        return SetFunctionOracle(self, self.t, cache=cache)


def _table(fn) -> np.ndarray:
    check_table_size(fn.t)
    n = 1 << fn.t
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        out[start:stop] = fn.values(np.arange(start, stop, dtype=np.uint64))
    return out


class _Chunks:
    """``SyntheticSetFunction`` with the family interface (params, table)."""

    family = "chunks"

    def __init__(self, t: int, seed: int = 0, interaction: float = 0.5, width: int = 4):
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.fn = SyntheticSetFunction(t=t, seed=self.seed, width=width, interaction=interaction)
        self.t = self.fn.t

    def params(self) -> dict:
        return {"t": self.t, "seed": self.seed, "interaction": self.fn.interaction, "width": self.fn.width}

    def values(self, keys) -> np.ndarray:
        return self.fn.values(keys)

    def __call__(self, masks) -> np.ndarray:
        return self.fn(masks)

    def table(self) -> np.ndarray:
        return _table(self)

    def oracle(self, cache: bool = True) -> SetFunctionOracle:
        return SetFunctionOracle(self, self.t, cache=cache)


#: family name -> generator class (constructor: t, seed, **params)
FAMILIES = {"logic": LogicSetFunction, "chunks": _Chunks}
_GENERATOR_PATHS = {
    "logic": "trace_opt.benchmarks.families.LogicSetFunction",
    "chunks": "trace_opt.core.synthetic.SyntheticSetFunction",
}


def make_generator(family: str, t: int, seed: int = 0, **params):
    """The seeded set function of ``family`` (``FAMILIES``) with t features."""
    check_choice("family", family, FAMILIES)
    return FAMILIES[family](t=t, seed=seed, **params)


def family_instance_name(family: str, t: int, seed: int, **params) -> str:
    """A file stem naming the family, t, the knob values and the seed, e.g. ``logic_t14_i0.8_o3_s0003``."""
    parts = [family, f"t{t}"]
    short = {"interaction": "i", "order": "o", "terms": "n", "saturation": "sat", "width": "w"}
    for key in ("interaction", "order", "terms", "saturation", "width"):
        if params.get(key) is not None:
            parts.append(f"{short[key]}{params[key]:g}")
    if params.get("kinds") is not None:
        kinds = [params["kinds"]] if isinstance(params["kinds"], str) else params["kinds"]
        parts.append("-".join(kinds))
    parts.append(f"s{seed:04d}")
    return "_".join(parts)


def family_instance(family: str, t: int, seed: int = 0, name: str | None = None, **params):
    """An ``Instance`` from all 2^t values of a family's generator, with exact optima and difficulty."""
    gen = make_generator(family, t, seed, **params)
    start = time.perf_counter()
    values = gen.table()
    meta = {
        "family": family,
        "generator": _GENERATOR_PATHS[family],
        "params": gen.params(),
        "seed": int(seed),
        "model": f"{_GENERATOR_PATHS[family]}(**params)",
        "output": "logit",
        "reference": None,
    }
    inst = instance_from_table(values, name or family_instance_name(family, t, seed, **params), meta)
    inst.metadata["build_seconds"] = round(time.perf_counter() - start, 3)
    return inst


def build_family_library(out_dir, family: str = "logic", ts=(12,), seeds=(0,), log=None, **params) -> list[Path]:
    """Write one instance per (t, seed) of ``family`` into ``out_dir``; an existing instance whose
    recorded family, params and seed match is kept (rerunning resumes). Returns the sidecar paths."""
    check_choice("family", family, FAMILIES)
    ts = [check_positive_int("t", t, minimum=2) for t in ts]
    seeds = [check_positive_int("seed", s, minimum=0) for s in seeds]
    out = Path(out_dir)
    paths = []
    for t in ts:
        for seed in seeds:
            name = family_instance_name(family, t, seed, **params)
            json_path, _ = _paths(out / name)
            want = make_generator(family, t, seed, **params).params()
            if keep_existing(json_path, lambda meta: meta.get("family") == family and meta.get("params") == want, log):
                paths.append(json_path)
                continue
            inst = family_instance(family, t, seed, name=name, **params)
            paths.append(save_instance(inst, json_path))
            if log:
                d = inst.metadata["difficulty"]
                o = d["objectives"]["le-mo"]
                log(
                    f"built {json_path} (t={t}, R2 {d['additivity_r2']:.3f}, greedy gap "
                    f"{o['greedy_normalised_gap']:.4f}, {inst.metadata['build_seconds']:.1f} s)"
                )
    return paths


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"12*10,14*10,16*4"`` -> [(12, 10), (14, 10), (16, 4)]: t and the number of seeds at that t."""
    out = []
    for part in filter(None, str(text).split(",")):
        t, _, count = part.partition("*")
        try:
            out.append((int(t), int(count) if count else 1))
        except ValueError:
            raise ValueError(f"--sizes: {part!r} is not T[*COUNT]") from None
        if out[-1][1] < 1:
            raise ValueError(f"--sizes: {part!r} has a count below 1")
    if not out:
        raise ValueError(f"--sizes {text!r} names no size; expected e.g. '12*10,14*10,16*4'")
    return out
