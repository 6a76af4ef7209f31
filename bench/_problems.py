"""The digits CNN setting shared by bench/sa_paper.py, sa_batch.py and sa_neighbourhoods.py (DESIGN.md section 4).

``trace_opt.models.data.digits_cnn(28)`` (the shipped weights), one test image, a 7 x 7 grid of 4 x 4 patches
(t = 49), zeros reference, logits, objective le-mo; the model is wrapped so that the time inside its call is
measured (:class:`TimedModel`) and the oracle pads every call to a multiple of :data:`PAD` inputs
(``ModelOracle(pad_multiple=PAD)``, see sa_paper.py's docstring). :func:`run_solver` runs one solver on that
problem and returns its counters and times as a dict.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from solvers import get_solver
from trace_opt import ModelOracle, TraceProblem

SA_NEIGHBOURHOODS = ["complete", "bubble", "star", "vertex-insertion", "block-reverse", "block-insertion", "mix"]

PAD = 4  # ModelOracle(pad_multiple=PAD) in every run
PAPER_START = "greedy-lerf-prob"  # the authors' start: greedy LeRF on softmax probabilities


class TimedModel:
    """Calls ``model`` and accumulates the wall and CPU time spent inside it (the "model time" of the
    overhead shares), its calls and the inputs it saw. A plain callable: no ``nn.Module`` call layer
    around the timed call. The benches' oracles pad its calls (``pad_multiple=PAD``)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.calls = 0
        self.inputs = 0

    def eval(self):
        self.model.eval()
        return self

    def __call__(self, x):
        start, cpu = time.perf_counter(), time.process_time()
        z = self.model(x)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu
        self.calls += 1
        self.inputs += x.shape[0]
        return z


class TimedOracle(ModelOracle):
    """ModelOracle that also accumulates the CPU time of its calls and of building masked inputs."""

    def __init__(self, *args, **kwargs):
        self.cpu_oracle = 0.0
        self.cpu_masking = 0.0
        super().__init__(*args, **kwargs)

    def evaluate(self, masks):
        start = time.process_time()
        try:
            return super().evaluate(masks)
        finally:
            self.cpu_oracle += time.process_time() - start

    def evaluate_keys(self, keys):
        start = time.process_time()
        try:
            return super().evaluate_keys(keys)
        finally:
            self.cpu_oracle += time.process_time() - start

    def _inputs_of_keys(self, keys):  # the numba kernel path (CPU, t <= 64)
        start = time.process_time()
        out = super()._inputs_of_keys(keys)
        self.cpu_masking += time.process_time() - start
        return out

    def masked_inputs(self, masks):  # the torch path (not used at t = 49 on the CPU)
        start = time.process_time()
        out = super().masked_inputs(masks)
        self.cpu_masking += time.process_time() - start
        return out


def batch_invariance(model, x, target, rng) -> bool:
    oracle = ModelOracle(model, x, target, features=7, cache=False, batch_size=256, pad_multiple=PAD)
    masks = rng.random((240, 49)) < 0.5
    whole = oracle.evaluate(masks)
    parts, start = [], 0
    while start < len(masks):
        n = int(rng.integers(1, 41))
        parts.append(oracle.evaluate(masks[start : start + n]))
        start += n
    return bool(np.array_equal(whole, np.concatenate(parts)))


def run_solver(model, x, target, solver, params, cache=True, budget=None, seed=0):
    oracle = TimedOracle(
        model, x, target, features=7, reference="zeros", output="logit", batch_size=128, cache=cache, pad_multiple=PAD
    )
    model.seconds, model.cpu_seconds, model.calls, model.inputs = 0.0, 0.0, 0, 0  # the solve only
    problem = TraceProblem(oracle, "le-mo")
    s = get_solver(solver, **params)
    start, cpu = time.perf_counter(), time.process_time()
    res = s.solve(problem, budget=budget, seed=seed, curves=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "solver": solver,
        "params": {k: (v if isinstance(v, (int, float, str, type(None))) else repr(v)) for k, v in params.items()},
        "score": res.score,
        "trajectory": res.trajectory.tolist(),
        "forward_passes": res.forward_passes,
        "batches": res.batches,
        "cache_hits": res.cache_hits,
        "requests": oracle.requests,
        "iterations": res.iterations,
        "stopped": res.stopped,
        "wall_seconds": wall,
        "model_seconds": model.seconds,
        "oracle_forward_seconds": oracle.forward_seconds,
        "cpu_seconds": cpu,
        "model_cpu_seconds": model.cpu_seconds,
        "oracle_cpu_seconds": oracle.cpu_oracle,
        "masking_cpu_seconds": oracle.cpu_masking,
        "model_calls": model.calls,
        "model_inputs": model.inputs,
        "history": [[int(f), float(v)] for f, v in res.history],
        "start": res.info.get("start"),
        "start_score": float(res.history[0][1]) if res.history else None,
        "mean_batch": float(np.mean(s.batch_sizes_)) if hasattr(s, "batch_sizes_") else None,
    }


def curve(r):
    """Best-so-far steps of a run, extended to the run's last forward pass."""
    h = np.array(r["history"], dtype=float).reshape(-1, 2)
    if len(h) and r["forward_passes"] > h[-1, 0]:
        h = np.vstack([h, [r["forward_passes"], h[-1, 1]]])
    return np.maximum(h[:, 0], 1), h[:, 1]
