"""Trajectories in the interfaces of the tools people already use: Captum's and Quantus'.

* ``TraceAttribution(model, **settings).attribute(inputs, target=None, baselines=None, feature_mask=None,
  perturbations_per_eval=None, **settings)``: Captum's attribution convention. ``inputs`` is a batch
  (first dimension); ``baselines`` becomes the deletion reference (None: the settings' reference, ``"zeros"``
  by default, as Captum's); ``feature_mask`` (integer ids, broadcasting against one input or with a batch
  dimension of 1 or B; any ids, renumbered 0..t-1 in increasing order) becomes the features;
  ``perturbations_per_eval`` becomes the batch size (masked inputs per model call). Other keywords are
  ``ExplainSettings`` fields (``solver="greedy"``, ``budget=2000``, ``objective="le-mo"``, ...) and override the
  ones given to the constructor. Returns a float tensor of the inputs' shape on their device.
* ``quantus_explain_func(model=, inputs=, targets=, **settings)``: Quantus' ``explain_func`` (numpy arrays in
  and out, the attribution of the inputs' shape); a batch goes through ``explain_many``.

The attribution of element e of feature i is ``((rank_i + 1) / t) ** heatmap_alpha`` (the paper's heatmap
value, 1 for the most important feature), constant over the feature: a ranking, not an additive
decomposition (``has_convergence_delta()`` is False).

**Cost.** Each input is one search: up to the settings' ``budget`` of forward passes per input (greedy's full
run is about t^2 / 2 passes for ``objective="le"`` or ``"mo"`` and t^2 for ``"le-mo"``). Inputs of one call share
model calls (``explain_many``) when they share features and reference; otherwise they are explained one by one.
"""

from __future__ import annotations

import numpy as np
import torch

from trace_opt.explanation.lockstep import explain_with_settings
from trace_opt.explanation.rankings import trajectory_heat
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.explanation.single import check_model


class TraceAttribution:
    """Captum-style attribution by a searched trajectory (see the module docstring).

    ``TraceAttribution(model, **settings)``: ``model`` as for ``trace_opt.explain`` (a torch module or a
    black-box callable); ``settings``: keywords of ``ExplainSettings``, checked here.
    """

    def __init__(self, model, **settings):
        self.forward_func = model
        self.settings = ExplainSettings.from_keywords(**settings)
        check_model(model, self.settings)

    @staticmethod
    def has_convergence_delta() -> bool:
        return False

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    def attribute(
        self,
        inputs,
        target=None,
        baselines=None,
        feature_mask=None,
        perturbations_per_eval: int | None = None,
        **settings,
    ) -> torch.Tensor:
        """The attribution of every input of the batch ``inputs``, a float tensor of its shape."""
        x = _batch_tensor(inputs)
        base = self._settings(perturbations_per_eval, settings)
        explanations = self._explain(x, target, baselines, feature_mask, base)
        maps = [_attribution_map(ex, x[i].shape, base.heatmap_alpha) for i, ex in enumerate(explanations)]
        return torch.as_tensor(np.stack(maps), dtype=torch.float32, device=x.device)

    def explanations(
        self, inputs, target=None, baselines=None, feature_mask=None, perturbations_per_eval=None, **settings
    ) -> list:
        """The ``Explanation`` of every input (trajectory, curves, counters), with ``attribute``'s arguments."""
        base = self._settings(perturbations_per_eval, settings)
        return self._explain(_batch_tensor(inputs), target, baselines, feature_mask, base)

    def _settings(self, perturbations_per_eval, changes: dict) -> ExplainSettings:
        """The bound settings with a call's changes (``perturbations_per_eval``: the batch size)."""
        base = self.settings.replace(**changes) if changes else self.settings
        return base if perturbations_per_eval is None else base.replace(batch_size=perturbations_per_eval)

    def _explain(self, x: torch.Tensor, target, baselines, feature_mask, base: ExplainSettings) -> list:
        n = len(x)
        targets = _targets(target, n)
        references = _per_input("baselines", baselines, x)
        masks = _per_input("feature_mask", feature_mask, x)
        groups: dict = {}  # inputs sharing reference and features share model calls
        for i in range(n):
            groups.setdefault((_key(references[i]), _key(masks[i])), []).append(i)
        out: list = [None] * n
        for members in groups.values():
            i0 = members[0]
            group_settings = base
            if references[i0] is not None:
                group_settings = group_settings.replace(reference=_reference_value(references[i0]))
            if masks[i0] is not None:
                group_settings = group_settings.replace(features=_feature_map(masks[i0]))
            group_targets = None if targets is None else [targets[i] for i in members]
            found = explain_with_settings(self.forward_func, x[members], group_targets, group_settings)
            for i, ex in zip(members, found):
                out[i] = ex
        return out


def quantus_explain_func(model, inputs, targets=None, **settings) -> np.ndarray:
    """Quantus' ``explain_func``: ``model`` (a torch module), ``inputs`` (a numpy batch), ``targets`` (one
    class per input, or None for the predicted ones); ``settings`` as for ``TraceAttribution`` (Quantus adds
    ``device``). Returns the attributions as a float32 numpy array of ``inputs``' shape."""
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    device = settings.pop("device", None)
    if device is not None:
        settings["device"] = str(device)
    explainer = TraceAttribution(model, **settings)
    return explainer.attribute(x, target=targets).detach().cpu().numpy()


# --------------------------------------------------------------------------------------------- helpers
def _batch_tensor(inputs) -> torch.Tensor:
    if isinstance(inputs, (tuple, list)) and inputs and isinstance(inputs[0], torch.Tensor):
        if len(inputs) != 1:
            raise ValueError(
                f"inputs is a tuple of {len(inputs)} tensors; TRACE explains one input tensor (its features "
                "are one partition): pass a single tensor with the batch first"
            )
        inputs = inputs[0]
    if not isinstance(inputs, (torch.Tensor, np.ndarray)):
        raise ValueError(f"inputs must be a tensor or array with the batch first; got {type(inputs).__name__}")
    x = torch.as_tensor(inputs)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"inputs must have a batch dimension first and at least one input; got shape {tuple(x.shape)}")
    return x


def _targets(target, n: int):
    """None, or one int per input (an int, or a sequence/tensor of n ints)."""
    if target is None:
        return None
    values = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target)
    if values.ndim == 0:
        return [int(values)] * n
    values = values.reshape(-1)
    if len(values) != n:
        raise ValueError(f"target has {len(values)} entries for {n} inputs; expected one int or one per input")
    return [int(v) for v in values]


def _per_input(name: str, value, x: torch.Tensor) -> list:
    """``value`` for each input: None, a number, or an array broadcasting against one input (optionally with a
    batch dimension of 1 or len(x))."""
    n = len(x)
    if value is None or isinstance(value, (int, float)):
        return [value] * n
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    one = tuple(x.shape[1:])
    if arr.ndim == len(one) + 1 and arr.shape[0] in (1, n):
        return [arr[0]] * n if arr.shape[0] == 1 else [arr[i] for i in range(n)]
    try:
        np.broadcast_shapes(arr.shape, one)
    except ValueError:
        raise ValueError(
            f"{name} of shape {arr.shape} fits neither one input {one} nor the batch {tuple(x.shape)}"
        ) from None
    return [arr] * n


def _key(value):
    if value is None or isinstance(value, (int, float)):
        return value
    return (value.shape, value.dtype.str, value.tobytes())


def _reference_value(ref):
    if isinstance(ref, (int, float)):
        return float(ref)
    return torch.as_tensor(np.asarray(ref, dtype=np.float32))


def _feature_map(mask: np.ndarray) -> np.ndarray:
    """Captum's feature mask as a feature map: ids renumbered 0..t-1 (in increasing order), leading
    singleton dimensions dropped (a (1, H, W) mask of an image is its (H, W) map)."""
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"feature_mask must hold integer feature ids; got dtype {mask.dtype}")
    while mask.ndim > 1 and mask.shape[0] == 1:
        mask = mask[0]
    _, ids = np.unique(mask, return_inverse=True)
    return ids.reshape(mask.shape).astype(np.int64)


def _attribution_map(explanation, shape, alpha: float) -> np.ndarray:
    """Each element gets its feature's heat value ``((rank + 1) / t) ** alpha``, broadcast to the input's shape."""
    heat = trajectory_heat(explanation.trajectory, alpha)
    return np.broadcast_to(heat[np.asarray(explanation.features.ids)], shape).astype(np.float32)


__all__ = ["TraceAttribution", "quantus_explain_func"]
