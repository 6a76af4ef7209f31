"""Lockstep explanations: many searches share each model call (``explain_many``).

One explanation cannot fill an accelerator: a search step asks for a handful of sets, and a small model
spends most of a call on latency. ``explain_many`` runs one ``explain`` per input as a **greenlet** (a
coroutine in this thread) whose model is a proxy: when a search needs the model, its greenlet hands the
masked inputs to the hub and pauses; once every live search is waiting, the hub concatenates all their
inputs, runs the model once (in chunks of ``max_batch``) and hands each search its rows back.

So every search keeps its own oracle (cache, counters, budget), its own solver and random stream, and
sees exactly the values its solo run would see when the model is batch-invariant: each input's
trajectory, score and counters are those of ``explain`` with the same seed (on a CNN, within the float
rounding that another batch size gives). Any registered solver works. Searches are resumed in input
order, so a lockstep run is deterministic.

Ctrl-C during ``explain_many`` stops every search: each returns its best trajectory so far with
``result.stopped == "interrupted"`` (its curves are still computed), as a solo ``explain`` does. An input
whose search fails (a bad shape, a model error on its rows only) gets its exception in the returned list
(``errors="return"``) or raised after all others finished (``errors="raise"``).
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.explanation.single import Explanation, bind_for, check_model, explain_checked, torch_threads
from trace_opt.models.backends import with_backend
from trace_opt.models.oracles import scored_model
from trace_opt.models.outputs import function_name, model_scores

ERRORS = ("raise", "return")


@dataclass
class LockstepStats:
    """What the hub did: shared model calls, the inputs they carried, rounds (all searches waiting)."""

    model_calls: int = 0
    model_inputs: int = 0
    rounds: int = 0
    largest_call: int = 0
    interrupted: bool = False

    def to_dict(self) -> dict:
        return {
            "model_calls": self.model_calls,
            "model_inputs": self.model_inputs,
            "rounds": self.rounds,
            "largest_call": self.largest_call,
            "interrupted": self.interrupted,
            "mean_inputs_per_call": self.model_inputs / self.model_calls if self.model_calls else 0.0,
        }


class _Request:
    """A search's pending model call: its inputs (a torch tensor or a numpy array, batch first)."""

    __slots__ = ("inputs",)

    def __init__(self, inputs):
        self.inputs = inputs


class _ProxyModel:
    """Stands in for the model inside one search: a call pauses the search until the hub answers."""

    def __init__(self, hub_greenlet):
        self._hub = hub_greenlet

    def __call__(self, inputs):
        return self._hub.switch(_Request(inputs))


def _concat(parts):
    return torch.cat(parts) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts)


def _call(model, inputs):
    if isinstance(inputs, torch.Tensor):
        with torch.inference_mode():
            return model_scores(model(inputs))  # a tuple, mapping or .logits output: its score tensor
    return np.asarray(model(inputs))


class _Hub:
    """Runs the searches as greenlets and serves their model calls together."""

    def __init__(self, model, max_batch: int, stats: LockstepStats):
        self.model = model
        self.max_batch = max_batch
        self.stats = stats  # shared by the groups of one explain_many call
        self.interrupt_requested = False

    def run(self, bodies) -> list:
        import greenlet

        hub = greenlet.getcurrent()
        outcomes: list = [None] * len(bodies)
        waiting: dict[int, _Request] = {}
        thrown: set[int] = set()
        lets = [greenlet.greenlet(body) for body in bodies]

        def step(i, send=None, exc=None):
            """Resume search i (first start, an answer, or an exception) until it asks again or ends."""
            try:
                msg = lets[i].throw(exc) if exc is not None else lets[i].switch(*(() if send is None else (send,)))
            except BaseException as err:  # the search's own code raised (explain re-raises nothing else)
                outcomes[i] = err
                return
            if isinstance(msg, _Request):
                waiting[i] = msg
            else:
                outcomes[i] = msg

        proxies = [_ProxyModel(hub) for _ in bodies]
        for i in range(len(bodies)):
            step(i, send=proxies[i])
        while waiting:
            if self.interrupt_requested:
                self.stats.interrupted = True
                for i in [i for i in waiting if i not in thrown]:
                    thrown.add(i)
                    del waiting[i]
                    step(i, exc=KeyboardInterrupt())
                if not waiting:
                    break
            self.stats.rounds += 1
            answers = self._serve(waiting)
            current = sorted(waiting)
            waiting.clear()
            for i in current:
                ans = answers[i]
                if isinstance(ans, BaseException):
                    step(i, exc=ans)
                else:
                    step(i, send=ans)
        return outcomes

    def _serve(self, waiting: dict) -> dict:
        """One model call per shape group and ``max_batch`` chunk for all waiting searches; the rows of
        each. A call that fails is retried search by search, so only the search whose rows break the
        model gets the exception."""
        groups: dict = {}
        for i in sorted(waiting):
            x = waiting[i].inputs
            key = (type(x).__name__, tuple(x.shape[1:]), str(getattr(x, "dtype", "")), str(getattr(x, "device", "")))
            groups.setdefault(key, []).append(i)
        answers: dict = {}
        for members in groups.values():
            try:
                outs = self._run_group([waiting[i].inputs for i in members])
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 - isolate the search whose inputs break the model
                for i in members:
                    try:
                        answers[i] = self._run_group([waiting[i].inputs])[0]
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # noqa: BLE001 - handed to that search
                        answers[i] = exc
                continue
            answers.update(zip(members, outs))
        return answers

    def _run_group(self, parts: list) -> list:
        sizes = [len(p) for p in parts]
        batch = _concat(parts)
        outs = []
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            out = _call(self.model, chunk)
            if len(out) != len(chunk):
                raise ValueError(
                    f"the model returned {len(out)} row(s) for a batch of {len(chunk)} input(s); "
                    "expected one row per input"
                )
            outs.append(out)
            self.stats.model_calls += 1
            self.stats.model_inputs += len(chunk)
            self.stats.largest_call = max(self.stats.largest_call, len(chunk))
        z = _concat(outs) if len(outs) > 1 else outs[0]
        bounds = np.cumsum([0] + sizes)
        return [z[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class _InterruptFlag:
    """While active (main thread only), the first Ctrl-C sets the hub's flag instead of raising; the hub
    then interrupts every search at its next model call. A second Ctrl-C raises as usual."""

    def __init__(self, hub: _Hub):
        self.hub = hub
        self.saved = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.saved = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.hub.interrupt_requested:
                    raise KeyboardInterrupt
                self.hub.interrupt_requested = True

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            signal.signal(signal.SIGINT, self.saved)


#: inputs per shared model call by default: a GPU wants large batches; on a CPU, per-input throughput of
#: the digits CNN 28 (one thread) is flat from 16 to 256 inputs and drops a third at 512 (cache misses)
DEFAULT_MAX_BATCH = {"cuda": 4096, "cpu": 128}


def explain_many(
    model: Any,
    X: Sequence[Any],
    targets: Sequence[int | None] | None = None,
    *,
    seed: int | Sequence[int] = 0,
    lockstep: int | None = None,
    max_batch: int | None = None,
    errors: str = "raise",
    stats: LockstepStats | None = None,
    **settings: Any,
) -> list[Explanation | BaseException]:
    """``explain`` for every input of ``X``, with the searches' model calls shared (lockstep).

    Parameters
    ----------
    model, settings : as for ``explain`` (the keywords of ``ExplainSettings``: features, reference,
        output, objective, solver, solver_options, budget, batch_size, device, precision, threads,
        heatmap_alpha, progress, reference options).
    X : a sequence (or a tensor / array with the batch first) of inputs.
    targets : None (each input's predicted class, or None for a scalar-output callable), or one target
        per input.
    seed : the search's seed. The batch rule: every input is searched with ``seed`` itself (as by
        ``explain_dataset``), not ``seed + i``, so an input's explanation does not depend on its place in the
        batch: ``explain_many(model, [a, b], seed=s)[1]`` has ``explain(model, b, seed=s)``'s trajectory (on
        a batch-invariant model). A sequence gives each input its own seed instead (one per input).
    lockstep : how many searches run together (None: all of them); inputs are taken in groups of this size.
    max_batch : the most inputs one shared model call carries (larger requests are split); None: 4,096
        on a GPU, 128 on a CPU (``DEFAULT_MAX_BATCH``).
    errors : ``"raise"``: the first failing input's exception is raised once all searches ended;
        ``"return"``: its place in the returned list holds the exception.
    stats : a ``LockstepStats`` to fill (shared model calls and their sizes).

    Returns one ``Explanation`` per input, in order (with ``errors="return"``, an exception in place of a
    failed one); each equals ``explain(model, X[i], targets[i], seed=seed, ...)``'s result (see the module
    docstring).
    """
    seeds = None
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds, seed = list(seed), (seed[0] if len(seed) else 0)
    return explain_with_settings(
        model,
        X,
        targets,
        ExplainSettings.from_keywords(seed=seed, **settings),
        seeds=seeds,
        lockstep=lockstep,
        max_batch=max_batch,
        errors=errors,
        stats=stats,
    )


def explain_with_settings(
    model: Any,
    X: Sequence[Any] | torch.Tensor | np.ndarray,
    targets: Sequence[int | None] | None,
    settings: ExplainSettings,
    *,
    seeds: Sequence[int] | None = None,
    lockstep: int | None = None,
    max_batch: int | None = None,
    errors: str = "raise",
    stats: LockstepStats | None = None,
) -> list[Explanation | BaseException]:
    """``explain_many`` with its settings as one ``ExplainSettings`` (``Explainer.explain_many``); ``seeds``:
    None (the batch rule: ``settings.seed`` itself for every input) or one seed per input."""
    try:
        import greenlet  # noqa: F401 - checked here, used by _Hub.run
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("explain_many needs the 'greenlet' package (pip install greenlet)") from exc
    n = len(X)
    if n == 0:
        raise ValueError("X is empty; expected at least one input")
    targets = _batch_targets(targets, n)
    seeds = _batch_seeds(seeds, settings, n)
    lockstep = n if lockstep is None else check_positive_int("lockstep", lockstep)
    if max_batch is None:
        max_batch = DEFAULT_MAX_BATCH["cuda" if str(settings.device).startswith("cuda") else "cpu"]
    max_batch = check_positive_int("max_batch", max_batch)
    check_choice("errors", errors, ERRORS)
    check_model(model, settings)  # once for the batch
    score_fn = settings.output if callable(settings.output) else None
    if score_fn is not None:  # the hub shares score tensors: the score function runs on the real model's output
        if any(t not in (None, 0) for t in targets):
            raise ValueError("targets must be None (or 0) with output=<callable>: its score is one column")
        model, settings = scored_model(model, score_fn), settings.replace(output=None)
    # settings that need an input are refused on the first input before any search starts; its binding is kept
    first = bind_for(model, X[0], settings, seeds[0])

    stats = stats if stats is not None else LockstepStats()
    outcomes: list = []
    with torch_threads(settings.threads):
        # threads are set once around the whole run, not per search; the backend is built once for all of them
        model = with_backend(model, settings.backend, X[0])
        for start in range(0, n, lockstep):
            idx = range(start, min(n, start + lockstep))
            hub = _Hub(model, max_batch, stats)

            def body_for(i):
                def body(proxy):
                    proxied, bound = _model_for(proxy, model), first if i == 0 else None
                    return explain_checked(
                        proxied, X[i], targets[i], settings, seed=seeds[i], backend=False, bound=bound
                    )

                return body

            # The whole group runs in inference mode: each search enters and leaves torch's (thread-local)
            # inference mode around its model calls, and those contexts interleave across the greenlets;
            # entered from the same state, every exit restores that state, so nothing leaks out.
            with _InterruptFlag(hub), torch.inference_mode():
                outcomes.extend(hub.run([body_for(i) for i in idx]))
            if hub.interrupt_requested:  # the rest of the inputs are not started
                outcomes.extend(KeyboardInterrupt() for _ in range(len(outcomes), n))
                break
    if errors == "raise":
        for out in outcomes:
            if isinstance(out, BaseException):
                raise out
    if score_fn is not None:
        for out in outcomes:
            if isinstance(out, Explanation):
                out.output = function_name(score_fn)
    return outcomes


def _batch_targets(targets: Sequence[int | None] | None, n: int) -> Sequence[int | None]:
    """One target per input (None: each input's predicted class)."""
    if targets is None:
        return [None] * n
    if not hasattr(targets, "__len__") or isinstance(targets, (str, bytes)):
        raise ValueError(
            f"targets={targets!r} is not valid; expected one target per input (a list, array or "
            "tensor of class indices) or None for each input's predicted class"
        )
    if len(targets) != n:
        raise ValueError(f"targets has {len(targets)} entries for {n} inputs; expected one per input (or None)")
    return targets


def _batch_seeds(seeds: Sequence[int] | None, settings: ExplainSettings, n: int) -> list[int]:
    """The batch rule: ``settings.seed`` itself for every input (an integer: a batch is reproducible), unless
    ``seeds`` gives one per input."""
    if seeds is None:
        return [check_positive_int("seed", settings.seed, minimum=0)] * n
    checked = [check_positive_int("seed", s, minimum=0) for s in seeds]
    if len(checked) != n:
        raise ValueError(f"seed has {len(checked)} entries for {n} inputs; expected one per input, or one integer")
    return checked


class _ModuleProxy(torch.nn.Module):
    """The proxy as a torch module (so ``explain`` builds a ``ModelOracle`` for a torch model)."""

    def __init__(self, proxy: _ProxyModel, model: torch.nn.Module):
        super().__init__()
        object.__setattr__(self, "_proxy", proxy)
        self.train(model.training)

    def forward(self, x):
        return self._proxy(x)


def _model_for(proxy: _ProxyModel, model):
    return _ModuleProxy(proxy, model) if isinstance(model, torch.nn.Module) else proxy
