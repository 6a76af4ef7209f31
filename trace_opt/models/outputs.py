"""What a torch model returns, made into the scores the oracle reads.

``model_scores(out)``: the ``(B, n_classes)`` score tensor of a model's raw output. A tensor is used as it is;
a tuple or list gives its first element; a mapping its ``"logits"`` entry (else its first value); any other
object its ``.logits`` attribute (Hugging Face's ``ModelOutput`` is both a mapping and has ``.logits``). So a
torch model that returns any of these gives the same trajectory as one returning the bare tensor.

``ScoreFunction(model, fn)``: a module whose output is ``fn(model(x))`` as one column, for a score that is a
functional of the raw output batch (a segmentation class's mean logit over a region, a detection score, a
regression output): ``output=fn`` in the settings; the oracle then explains that column (target 0) with the
same batching, caching, pass counting, precision handling and lockstep as class scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import torch


def model_scores(out: Any) -> torch.Tensor:
    """The score tensor in a model's raw output (see the module docstring); a ValueError names what came."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        if not out:
            raise ValueError("the model returned an empty tuple/list; expected scores as its first element")
        return model_scores(out[0])
    if isinstance(out, Mapping):
        if "logits" in out:
            return model_scores(out["logits"])
        if not out:
            raise ValueError("the model returned an empty mapping; expected a 'logits' entry")
        return model_scores(next(iter(out.values())))
    logits = getattr(out, "logits", None)
    if logits is not None:
        return model_scores(logits)
    raise ValueError(
        f"the model returned a {type(out).__name__}; expected a tensor of scores, a tuple/list (its first "
        "element), a mapping with 'logits' or an object with .logits, or pass output=<callable> to score it"
    )


def function_name(fn: Callable) -> str:
    """A readable name of a score function (for records and titles)."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


class ScoreFunction(torch.nn.Module):
    """``fn(model(x))`` as a ``(B, 1)`` score column: ``fn`` takes the model's raw output for a batch of B
    inputs and returns B scores (a tensor or array of B numbers)."""

    def __init__(self, model: torch.nn.Module, fn: Callable[[Any], Any]):
        super().__init__()
        if not callable(fn):
            raise ValueError(f"output must be a kind of score or a callable; got {fn!r}")
        self.model = model
        self.fn = fn
        self.train(model.training)  # a wrapper of an eval-mode model is in eval mode too

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.model(x)
        scores = self.fn(raw)
        s = scores if isinstance(scores, torch.Tensor) else torch.as_tensor(scores)
        if s.numel() != len(x):
            raise ValueError(
                f"output={function_name(self.fn)} returned {s.numel()} values for a batch of {len(x)} inputs; "
                "expected one score per input"
            )
        return s.reshape(len(x), 1).to(x.device)


class TensorScores(torch.nn.Module):
    """``model_scores(model(x))``: a model of any output kind as one returning its score tensor (for export)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return model_scores(self.model(x))


__all__ = ["ScoreFunction", "TensorScores", "function_name", "model_scores"]
