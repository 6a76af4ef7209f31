"""Complete D tables computed once and saved as benchmark instances (``trace_opt.benchmarks.instances``, e.g.
``bench/imagenet_exact.py``'s EfficientNet-Lite0 tables at t = 16, 65,536 passes a photo), reused by the evaluation
instead of another 2^t forward passes per output.

An instance serves an input when its stored input ``x``, feature map ``feature_ids``, target, reference and output
all match, and only after the model's own values on a few sets agree with the table (a table of another model or
weights is refused with a clear error, never used silently).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trace_opt.benchmarks.instances import Instance, load_instance, load_library

#: sets checked against the model before a table is used: D({}), D(all) and this many random sets
CHECKED_RANDOM_SETS = 6


def load_tables(paths) -> list[Instance]:
    """The instances in ``paths``: instance files (``NAME.json`` beside ``NAME.npz``) or folders of them."""
    found: list[Instance] = []
    for p in [paths] if isinstance(paths, (str, Path)) else list(paths or ()):
        p = Path(p)
        if p.is_dir():
            found.extend(load_library(p))
        elif p.is_file() and p.suffix == ".json":
            found.append(load_instance(p))
        else:
            raise ValueError(f"tables: {str(p)!r} is neither an instance file (.json) nor a folder of them")
    return found


def matching_table(instances, x, target: int, features, reference, output: str) -> Instance | None:
    """The first instance whose stored input, feature ids, target, reference (a named reference kind) and
    output are those given, or None. ``x`` is the input (array or tensor, on any device)."""
    if not isinstance(reference, str):
        return None  # a tensor reference is not recorded by name in an instance
    xs = None
    for inst in instances:
        meta, arrays = inst.metadata, inst.arrays
        if (
            inst.t != features.t
            or meta.get("output") != output
            or meta.get("reference") != reference
            or meta.get("target") is None
            or int(meta["target"]) != int(target)
            or "x" not in arrays
            or "feature_ids" not in arrays
        ):
            continue
        if xs is None:
            xs = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
        ids = np.asarray(arrays["feature_ids"])
        stored = np.asarray(arrays["x"], dtype=np.float32)
        if (
            ids.shape == features.ids.shape
            and np.array_equal(ids, features.ids)
            and stored.shape == xs.shape
            and np.allclose(stored, xs, rtol=0.0, atol=1e-6)
        ):
            return inst
    return None


def check_table(oracle, instance: Instance, seed: int = 0, rel_tol: float = 1e-3) -> dict:
    """Compare the model's D (``oracle``, before anything is preloaded into it) with ``instance``'s table on
    D({}), D(all) and ``CHECKED_RANDOM_SETS`` random sets; ValueError when one differs by more than ``rel_tol``
    of max(1, |D({})|) (float32 rounding across batchings is ~1e-6 of it). Returns what was checked."""
    t = instance.t
    rng = np.random.default_rng(seed)
    full = (1 << t) - 1
    keys = np.unique(np.concatenate([[0, full], rng.integers(1, full, size=CHECKED_RANDOM_SETS, endpoint=False)]))
    keys = keys.astype(np.uint64)
    model_values = oracle.evaluate_keys(keys)
    table_values = np.asarray(instance.values)[keys.astype(np.int64)]
    diff = np.abs(model_values - table_values)
    tol = rel_tol * max(1.0, abs(float(table_values[0])))
    if float(diff.max()) > tol:
        worst = int(np.argmax(diff))
        raise ValueError(
            f"tables: instance {instance.name!r} matches the input, features, target, reference and output, but "
            f"the model's D differs from its table on set {int(keys[worst]):#x}: {model_values[worst]!r} vs "
            f"{table_values[worst]!r} (tolerance {tol:.3g}); it was computed with another model or weights. Leave "
            "it out of --tables, or rebuild it"
        )
    return {
        "source": instance.name,
        "path": None if instance.path is None else str(instance.path),
        "forward_passes": instance.metadata.get("forward_passes"),
        "checked_sets": int(len(keys)),
        "max_abs_difference": float(diff.max()),
    }


def preload_table(oracle, instance: Instance) -> None:
    """Every set's value from ``instance`` into ``oracle``'s cache (all 2^t sets are then cache hits)."""
    oracle.preload(np.arange(1 << instance.t, dtype=np.uint64), instance.values)
