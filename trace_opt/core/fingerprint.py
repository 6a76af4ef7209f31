"""Content hashes that tell models and inputs apart: cache and resume keys, instance checksums."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np


def arrays_digest(arrays: Any) -> str:
    """sha256 (hex) of one array, or of a dict of named arrays (in name order, each name included),
    over dtype, shape and values. Tensors are read on the CPU."""
    h = hashlib.sha256()
    items = sorted(arrays.items()) if isinstance(arrays, dict) else [(None, arrays)]
    for name, a in items:
        a = np.ascontiguousarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
        if name is not None:
            h.update(name.encode())
        h.update(a.dtype.str.encode())
        h.update(repr(tuple(a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def model_fingerprint(model: Any) -> str | None:
    """16 hex digits of sha256 over a torch module's state dict (names and values), or over another
    callable's pickled bytes; None when it cannot be pickled (lambdas, closures: nothing identifies it)."""
    h = hashlib.sha256()
    state = getattr(model, "state_dict", None)
    if callable(state):
        for key, tensor in sorted(state().items()):
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    else:
        try:
            data = pickle.dumps(model, protocol=4)
        except Exception:  # noqa: BLE001 - lambdas, closures, locks, ...: not fingerprintable
            return None
        h.update(b"pickle:")
        h.update(data)
    return h.hexdigest()[:16]
