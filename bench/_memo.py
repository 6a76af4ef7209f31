"""A memo of a model's D values kept on disk, so that a study of many solves on one photo runs the model once
per distinct set (``MemoStore``), and an oracle over it that counts each solve's forward passes as if the model
ran (``MemoOracle``: a fresh exact cache per solve, so its budget and counters are those of a live oracle).

Every value comes from one live ``ModelOracle`` (same model, input, target, features, reference, output,
precision and batch size); a memo file is refused when any of those settings differs (its ``config``). The
values are therefore those of that model on this machine, not bit-identical to another CPU's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trace_opt.core.io import atomic_write_bytes
from trace_opt.core.oracle import Oracle


class MemoStore:
    """The live oracle's values by uint64 set key, loaded from and saved to ``path`` (.npz)."""

    def __init__(self, live: Oracle, path, config: dict):
        self.live, self.path, self.config = live, Path(path), json.loads(json.dumps(config))
        if self.path.exists():
            with np.load(self.path) as z:
                saved = json.loads(str(z["config"]))
                if saved != self.config:
                    raise SystemExit(f"{self.path}: memo of other settings {saved}; expected {self.config}")
                if "packed" in z:  # t > 64: keys are the packed bytes of the masks (the oracle's dict cache)
                    live._cache.update(zip((row.tobytes() for row in z["packed"]), z["values"].tolist()))
                else:
                    live.preload(z["keys"], z["values"])

    def values(self, keys: np.ndarray) -> np.ndarray:
        """D of uint64 set keys (t <= 64): from the memo, the model for the sets it lacks."""
        return self.live.evaluate_keys(keys)

    def values_of_masks(self, masks: np.ndarray) -> np.ndarray:
        """D of bool masks (any t): from the memo, the model for the sets it lacks."""
        return self.live.evaluate(masks)

    def save(self) -> None:
        import io

        items = list(self.live._cache.items())
        vals = np.array([v for _, v in items], dtype=np.float64)
        buf = io.BytesIO()
        if self.live.t <= 64:
            keys = {"keys": np.array([k for k, _ in items], dtype=np.uint64)}
        else:
            width = (self.live.t + 7) // 8
            keys = {"packed": np.frombuffer(b"".join(k for k, _ in items), dtype=np.uint8).reshape(-1, width)}
        np.savez_compressed(buf, values=vals, config=np.array(json.dumps(self.config)), **keys)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, buf.getvalue())


class MemoOracle(Oracle):
    """D(S) from a ``MemoStore``; counts unique sets per solve like a live model oracle."""

    _source = "the memo"

    def __init__(self, store: MemoStore):
        live = store.live
        super().__init__(live.t)
        self._keyed_forward = live.t <= 64
        self.store = store
        self.batch_size = getattr(live, "batch_size", None)
        self.output = getattr(live, "output", None)
        self.precision = getattr(live, "precision", "fp32")
        self._record_probe(store.values_of_masks(np.zeros((1, live.t), dtype=bool)))

    def _forward_keys(self, keys: np.ndarray) -> np.ndarray:
        self.batches += 1
        return self.store.values(np.ascontiguousarray(keys, dtype=np.uint64))

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        self.batches += 1
        return self.store.values_of_masks(np.asarray(masks, dtype=bool))
