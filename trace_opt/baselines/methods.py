"""Attribution baselines (Captum, RISE, and the paper's IBA, EP, EBP, pixel RISE) converted to trajectories.

Every method returns an attribution (an input-shaped map, or one score per feature) in which a
**higher value means more important** for the explained output; ``attribution_to_trajectory``
then sorts features ascending (least important first, DESIGN.md section 2) after aggregating the
map per feature (``aggregate="sum"`` or ``"mean"``) with an explicit ``absolute`` choice.

Vocabulary follows Captum: ``target`` (class index), ``baselines`` (what an absent feature is
replaced by; a reference kind of ``make_reference`` or a tensor; zeros by default),
``feature_mask`` (the ``Features`` ids), ``internal_batch_size``.

Methods that need gradients or layers (saliency, input x gradient, integrated gradients, IBA, EBP, EP,
smoothgrad, deeplift, guided backprop, grad-cam) accept only a ``torch.nn.Module``; given a
black-box callable they raise a ``ValueError`` that says so. Perturbation methods (occlusion,
feature ablation, Shapley value sampling, KernelSHAP, LIME, RISE, pixel RISE, random) accept either.
IBA, Extremal Perturbation, Excitation Backprop and pixel-level RISE live in ``trace_opt.baselines.paper``.

Every method is reproducible from ``seed``: Captum's sampling methods draw from torch's global
generator, which is forked and seeded locally (the caller's RNG state is left untouched).

Users add their own method with ``register_baseline``::

    @register_baseline("my-method", needs_gradients=False, aggregate="mean", tags=("perturbation",))
    def my_method(inp: AttributionInput, **options):
        return FeatureScores(scores)  # one score per feature, or a map of inp.x's shape
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from trace_opt.baselines import paper as _paper_baselines
from trace_opt.core.features import Features, as_features
from trace_opt.core.registry import Registry
from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int
from trace_opt.explanation.rankings import attribution_to_trajectory, feature_scores, scores_to_trajectory
from trace_opt.models.references import make_reference


# --------------------------------------------------------------------------- inputs and registry
@dataclass
class AttributionInput:
    """Everything a method sees for one input.

    ``forward`` maps a float tensor batch ``(B, *x.shape)`` to scores ``(B, n_classes)`` or ``(B,)``;
    ``model`` is the torch module (None for a black box); ``baseline`` has x's shape.
    """

    forward: Callable[[torch.Tensor], torch.Tensor]
    model: torch.nn.Module | None
    x: torch.Tensor
    target: int | None
    features: Features
    baseline: torch.Tensor
    seed: int = 0
    batch_size: int = 64

    @property
    def batch(self) -> torch.Tensor:
        """x with a batch dimension of one."""
        return self.x.unsqueeze(0)

    @property
    def feature_mask(self) -> torch.Tensor:
        """Captum's ``feature_mask``: the feature ids broadcast to ``(1, *x.shape)``."""
        return torch.as_tensor(np.broadcast_to(self.features.ids, tuple(self.x.shape)).copy()).unsqueeze(0)


@dataclass(frozen=True)
class BaselineMethod:
    """A registered attribution method and its default ranking rule."""

    name: str
    fn: Callable
    needs_gradients: bool = False
    absolute: bool = False
    aggregate: str = "sum"
    label: str = ""
    defaults: dict = field(default_factory=dict)
    #: optional ``applies(model) -> bool``: whether the method can run on this model (None: always)
    applies: Callable | None = None
    #: what the method is and needs (``TAGS``); the faithfulness tests select their baselines by these
    tags: frozenset = frozenset()


BASELINES: Registry = Registry("baseline")  # in registration order

#: the tags a baseline may carry: what it is, what it needs, and the selection tiers of the faithfulness tests
TAGS = {
    # what it is
    "gradient": "built from the gradient of the output (Captum's gradient methods)",
    "perturbation": "built from the outputs of perturbed inputs (features deleted, masked or sampled)",
    "random": "a seeded random order: a control, not an explanation",
    "paper": "one of the paper's Table-2 methods Captum lacks (``trace_opt.baselines.paper``)",
    "captum": "computed by Captum",
    "layer": "attributes at an internal layer and upsamples to the input (Grad-CAM, IBA)",
    "propagation": "propagates relevance backward with its own rule (Excitation Backprop)",
    "optimisation": "optimises a mask or a bottleneck per input (IBA, Extremal Perturbation)",
    "sampling": "averages over random samples (noise, masks, coalitions), so its scores depend on the seed",
    "completeness": "its scores sum to f(x) - f(reference) by construction (IG up to quadrature, DeepLift, "
    "Shapley sampling)",
    "bam-paper": "evaluated by BAM's paper (Yang and Kim 2019): vanilla gradient, SmoothGrad, IG, Guided "
    "Backprop, Grad-CAM",
    # what it needs
    "gradients": "needs a torch.nn.Module (added by ``needs_gradients=True``)",
    "conv-layer": "needs a convolutional layer (nn.Conv2d)",
    # selection tiers (a method in "core" is in "standard" too)
    "core": "the smallest panel, one per family: plain gradient, path gradient, perturbation, the random control",
    "standard": "core plus Input x Gradient, Grad-CAM and Shapley sampling: the panel of the costlier tests",
}


def _check_tags(tags) -> tuple:
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise ValueError(f"tags {unknown} are unknown; expected tags among {sorted(TAGS)} (add one to TAGS first)")
    return tags


def _clause_matches(clause: str, tags: frozenset) -> bool:
    for literal in clause.split("&"):
        literal = literal.strip()
        negate = literal.startswith("!")
        name = literal.lstrip("!")
        _check_tags((name,))
        if (name in tags) == negate:
            return False
    return True


def baselines_tagged(*clauses: str, model=None, controls: str = "last") -> list[str]:
    """The registered baselines matching any of ``clauses`` (a clause: tags joined by ``&``, ``!`` negating
    one, e.g. ``"!paper"`` or ``"perturbation&!sampling"``), in registration order with the ``random``-tagged
    controls moved to the end (``controls="last"``) or the front (``"first"``); with ``model``, only those
    that apply to it (``applicable_baselines``)."""
    if not clauses:
        raise ValueError("baselines_tagged needs at least one clause, e.g. baselines_tagged('core')")
    check_choice("controls", controls, ("first", "last"))
    names = [n for n, m in BASELINES.items() if any(_clause_matches(c, m.tags) for c in clauses)]
    if model is not None:
        names = applicable_baselines(model, names)
    control = [n for n in names if "random" in BASELINES[n].tags]
    rest = [n for n in names if n not in control]
    return control + rest if controls == "first" else rest + control


def register_baseline(
    name: str,
    fn: Callable | None = None,
    *,
    needs_gradients: bool = False,
    absolute: bool = False,
    aggregate: str = "sum",
    label: str | None = None,
    overwrite: bool = False,
    applies: Callable | None = None,
    tags=(),
    **defaults,
):
    """Register an attribution method ``fn(inp: AttributionInput, **options) -> map or (t,) scores``.

    Higher values must mean more important. ``absolute``/``aggregate`` are the default ranking rule
    (overridable per call). ``needs_gradients=True`` refuses black-box callables. Usable as a
    decorator (``fn`` omitted). ``defaults`` are default options passed to ``fn``. ``applies(model)``
    (optional) says whether the method can run on a model (``applicable_baselines`` uses it). ``tags``: what
    the method is and needs (see ``TAGS``; ``"gradients"`` is added when ``needs_gradients``); tests select
    baselines by them (``baselines_tagged``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    check_choice("aggregate", aggregate, ("sum", "mean"))
    tags = frozenset(_check_tags(tags)) | ({"gradients"} if needs_gradients else set())

    def deco(f):
        if not callable(f):
            raise ValueError(f"fn must be callable (AttributionInput -> attribution); got {type(f).__name__}")
        BASELINES.add(
            name,
            BaselineMethod(
                name, f, bool(needs_gradients), bool(absolute), aggregate, label or name, dict(defaults), applies, tags
            ),
            overwrite=overwrite,
        )
        return f

    return deco if fn is None else deco(fn)


def available_baselines() -> list[str]:
    """Names of all registered methods, in registration order."""
    return list(BASELINES)


def get_baseline(name: str) -> BaselineMethod:
    if name not in BASELINES:
        raise ValueError(f"method={name!r} is unknown; expected one of {available_baselines()}")
    return BASELINES.lookup(name)


def applicable_baselines(model, names=None) -> list[str]:
    """The methods (of ``names``, default all) that can run on ``model``.

    Black-box callables exclude gradient methods; a method registered with ``applies`` runs where it says so
    (grad-cam: a torch model with an ``nn.Conv2d``; excitation-backprop: feed-forward ReLU networks of
    supported layers).
    """
    names = available_baselines() if names is None else list(names)
    is_module = isinstance(model, torch.nn.Module)
    out = []
    for n in names:
        m = get_baseline(n)
        if m.needs_gradients and not is_module:
            continue
        if m.applies is not None and not m.applies(model):
            continue
        out.append(n)
    return out


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FeatureScores:
    """Wrap a method's output to say it is one score per feature (not an input-shaped map)."""

    values: np.ndarray


@dataclass
class Attribution:
    """One method's attribution of one input.

    ``map`` is the raw (input-shaped) attribution or None when the method scores features directly;
    ``scores`` is one value per feature after the ranking rule; ``trajectory`` sorts them ascending.
    """

    method: str
    map: np.ndarray | None
    scores: np.ndarray
    trajectory: np.ndarray
    absolute: bool
    aggregate: str
    options: dict

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "scores": self.scores.tolist(),
            "trajectory": self.trajectory.tolist(),
            "absolute": self.absolute,
            "aggregate": self.aggregate,
            "options": {
                k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in self.options.items()
            },
        }


def _blackbox_forward(fn: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(batch: torch.Tensor) -> torch.Tensor:
        out = np.asarray(fn(batch.detach().cpu().numpy()), dtype=np.float64)
        return torch.as_tensor(out)

    return forward


def make_input(
    model, x, target: int | None, features, baselines="zeros", seed: int = 0, batch_size: int = 64, **reference_options
) -> AttributionInput:
    """Build the ``AttributionInput`` for a torch module or a black-box callable.

    A black box takes a numpy batch ``(B, *x.shape)`` and returns ``(B,)`` or ``(B, n_classes)``
    (e.g. ``predict_proba``); it is evaluated in float64.
    """
    check_positive_int("batch_size", batch_size)
    if isinstance(model, torch.nn.Module):
        xt = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))).detach().float()
        forward, module = model, model
        if model.training:
            raise ValueError("model is in training mode; call model.eval() so attributions are deterministic")
    elif callable(model):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        forward, module = _blackbox_forward(model), None
    else:
        raise ValueError(f"model must be a torch.nn.Module or a callable; got {type(model).__name__}")
    feats = as_features(features, tuple(xt.shape))
    base = make_reference(baselines, xt, feats, **reference_options).to(xt.dtype)
    with torch.no_grad():
        probe = forward(xt.unsqueeze(0))
    if probe.dim() == 2:
        if target is None or isinstance(target, bool) or not 0 <= int(target) < probe.shape[1]:
            raise ValueError(f"target={target!r} is not valid; expected a class index in 0..{probe.shape[1] - 1}")
        target = int(target)
    elif probe.dim() == 1:
        if target is not None:
            raise ValueError("target must be None when the model returns one score per input")
    else:
        raise ValueError(f"the model must return (B,) or (B, n_classes) scores; got shape {tuple(probe.shape)}")
    return AttributionInput(forward, module, xt, target, feats, base, int(seed), int(batch_size))


def attribute(
    method: str,
    model,
    x,
    target: int | None,
    features,
    baselines="zeros",
    *,
    seed: int = 0,
    absolute: bool | None = None,
    aggregate: str | None = None,
    batch_size: int = 64,
    inp: AttributionInput | None = None,
    **options,
) -> Attribution:
    """Run attribution ``method`` on one input and convert it to a trajectory.

    ``absolute``/``aggregate`` default to the method's registered ranking rule. ``options`` go to
    the method (e.g. ``n_steps`` for integrated gradients, ``layer`` for grad-cam). Pass a prebuilt
    ``inp`` (``make_input``) to reuse one ``AttributionInput`` across methods; its model, input,
    target, features, baseline and seed then replace the corresponding arguments.
    """
    m = get_baseline(method)
    if inp is None:
        inp = make_input(model, x, target, features, baselines, seed=seed, batch_size=batch_size)
    if m.needs_gradients and inp.model is None:
        raise ValueError(
            f"method={method!r} needs gradients of a torch.nn.Module; a black-box callable has "
            f"none. Black-box methods: {[n for n in available_baselines() if not BASELINES[n].needs_gradients]}"
        )
    absolute = m.absolute if absolute is None else bool(absolute)
    aggregate = check_choice("aggregate", m.aggregate if aggregate is None else aggregate, ("sum", "mean"))
    opts = {**m.defaults, **options}
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\..*")
        torch.manual_seed(int(inp.seed))
        raw = m.fn(inp, **opts)
    per_feature = isinstance(raw, FeatureScores)
    if per_feature:
        raw = raw.values
    raw = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
    raw = raw.astype(np.float64)
    t = inp.features.t
    if per_feature or (raw.shape == (t,) and tuple(inp.x.shape) != (t,)):
        if raw.shape != (t,):
            raise ValueError(f"method {method!r} returned FeatureScores of shape {raw.shape}; expected ({t},)")
        scores = np.abs(raw) if absolute else raw.copy()
        amap = None
    else:
        if raw.shape != tuple(inp.x.shape):
            raise ValueError(
                f"method {method!r} returned shape {raw.shape}; expected the input's shape "
                f"{tuple(inp.x.shape)} or ({t},) feature scores"
            )
        amap = raw
        scores = feature_scores(raw, inp.features, aggregate, absolute)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"method {method!r} produced non-finite attributions")
    if amap is None:
        traj = scores_to_trajectory(scores)
    else:
        traj = attribution_to_trajectory(amap, inp.features, aggregate, absolute)
    return Attribution(method, amap, scores, traj, absolute, aggregate, opts)


def baseline_trajectory(method: str, model, x, target, features, baselines="zeros", **kwargs) -> np.ndarray:
    """The trajectory (least important first) of one attribution method; see ``attribute``."""
    return attribute(method, model, x, target, features, baselines, **kwargs).trajectory


# --------------------------------------------------------------------------- gradient methods
def _captum():
    import captum.attr as ca  # imported lazily: captum is heavy

    return ca


def _grad_input(inp: AttributionInput) -> torch.Tensor:
    return inp.batch.clone().requires_grad_(True)


def _saliency(inp, **_):
    return _captum().Saliency(inp.model).attribute(_grad_input(inp), target=inp.target, abs=True)[0]


def _input_x_gradient(inp, **_):
    return _captum().InputXGradient(inp.model).attribute(_grad_input(inp), target=inp.target)[0]


def _integrated_gradients(inp, n_steps: int = 50, method: str = "gausslegendre", **_):
    ig = _captum().IntegratedGradients(inp.model)
    return ig.attribute(
        _grad_input(inp),
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        n_steps=check_positive_int("n_steps", n_steps),
        method=method,
        internal_batch_size=inp.batch_size,
    )[0]


def _smoothgrad(inp, nt_samples: int = 25, noise_level: float = 0.15, **_):
    """SmoothGrad (Smilkov et al.): mean gradient under Gaussian noise of std noise_level * (max - min)."""
    ca = _captum()
    spread = float(inp.x.max() - inp.x.min()) or 1.0
    nt = ca.NoiseTunnel(ca.Saliency(inp.model))
    return nt.attribute(
        _grad_input(inp),
        nt_type="smoothgrad",
        nt_samples=check_positive_int("nt_samples", nt_samples),
        nt_samples_batch_size=inp.batch_size,
        stdevs=check_positive_float("noise_level", noise_level) * spread,
        target=inp.target,
        abs=False,
    )[0]


def _deeplift(inp, **_):
    return (
        _captum()
        .DeepLift(inp.model)
        .attribute(_grad_input(inp), baselines=inp.baseline.unsqueeze(0), target=inp.target)[0]
    )


def _guided_backprop(inp, **_):
    return _captum().GuidedBackprop(inp.model).attribute(_grad_input(inp), target=inp.target)[0]


def _last_conv(model):
    last = None
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d):
            last = mod
    return last


def _resolve_layer(model, layer):
    if layer is None:
        conv = _last_conv(model)
        if conv is None:
            raise ValueError(
                "grad-cam needs a convolutional layer and the model has no nn.Conv2d; pass layer= "
                "(a module of the model or its dotted name)"
            )
        return _paper_baselines.rectified(
            model, conv
        )  # Grad-CAM uses the rectified feature maps of the last conv block
    return _paper_baselines.module_of(model, layer)


def _grad_cam(inp, layer=None, relu: bool = True, **_):
    """Grad-CAM on ``layer`` (default: the last Conv2d, or the activation module right after it, i.e. the
    rectified feature maps as in Selvaraju et al.), upsampled bilinearly to the input's H x W.

    ``relu=True`` (the original method) zeroes negative regions, so their order falls to the ranking's
    tie rule (feature index); ``relu=False`` keeps the signed map. The map is broadcast over channels.
    """
    ca = _captum()
    lay = _resolve_layer(inp.model, layer)
    if inp.x.dim() < 2:
        raise ValueError("grad-cam needs an image input (C x H x W or H x W)")
    cam = ca.LayerGradCam(inp.model, lay).attribute(_grad_input(inp), target=inp.target, relu_attributions=relu)
    if cam.dim() != 4:
        raise ValueError(f"grad-cam layer output must be a feature map (B, C, h, w); got {tuple(cam.shape)}")
    up = torch.nn.functional.interpolate(cam, size=tuple(inp.x.shape[-2:]), mode="bilinear", align_corners=False)
    return up[0, 0].expand(tuple(inp.x.shape))


# --------------------------------------------------------------------------- perturbation methods
def _occlusion(inp, **_):
    """Occlusion with one window per feature: for an even grid the window and stride are one patch;
    otherwise single elements are occluded and their drops aggregated per feature."""
    ca = _captum()
    f = inp.features
    shape = tuple(inp.x.shape)
    lead = shape[: len(shape) - f.ids.ndim]
    if f.kind == "grid" and f.grid is not None and shape[-2] % f.grid[0] == 0 and shape[-1] % f.grid[1] == 0:
        ph, pw = shape[-2] // f.grid[0], shape[-1] // f.grid[1]
        window = lead + (ph, pw)
        strides = tuple(lead) + (ph, pw)
    else:
        window = (1,) * len(shape)
        strides = 1
    occ = ca.Occlusion(inp.forward)
    return occ.attribute(
        inp.batch,
        sliding_window_shapes=window,
        strides=strides,
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        perturbations_per_eval=inp.batch_size,
    )[0]


def _feature_ablation(inp, **_):
    fa = _captum().FeatureAblation(inp.forward)
    return fa.attribute(
        inp.batch,
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        feature_mask=inp.feature_mask,
        perturbations_per_eval=inp.batch_size,
    )[0]


def _shapley_sampling(inp, n_samples: int = 25, **_):
    sv = _captum().ShapleyValueSampling(inp.forward)
    return sv.attribute(
        inp.batch,
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        feature_mask=inp.feature_mask,
        n_samples=check_positive_int("n_samples", n_samples),
        perturbations_per_eval=inp.batch_size,
    )[0]


def _kernel_shap(inp, n_samples: int = 300, **_):
    ks = _captum().KernelShap(inp.forward)
    return ks.attribute(
        inp.batch,
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        feature_mask=inp.feature_mask,
        n_samples=check_positive_int("n_samples", n_samples),
        perturbations_per_eval=inp.batch_size,
    )[0]


def _lime(inp, n_samples: int = 300, ridge_alpha: float = 1.0, **_):
    """LIME with a ridge surrogate (as in Ribeiro et al.) and Captum's exponential cosine kernel."""
    ca = _captum()
    from captum._utils.models.linear_model import SkLearnRidge

    lime = ca.Lime(
        inp.forward, interpretable_model=SkLearnRidge(alpha=check_positive_float("ridge_alpha", ridge_alpha))
    )
    return lime.attribute(
        inp.batch,
        baselines=inp.baseline.unsqueeze(0),
        target=inp.target,
        feature_mask=inp.feature_mask,
        n_samples=check_positive_int("n_samples", n_samples),
        perturbations_per_eval=inp.batch_size,
    )[0]


def _scores_of(inp: AttributionInput, batch: torch.Tensor) -> np.ndarray:
    outs = []
    with torch.no_grad():
        for s in range(0, len(batch), inp.batch_size):
            z = inp.forward(batch[s : s + inp.batch_size])
            outs.append((z[:, inp.target] if inp.target is not None else z.reshape(-1)).double().cpu().numpy())
    return np.concatenate(outs)


def rise_scores(inp: AttributionInput, n_masks: int = 500, p_keep: float = 0.5) -> np.ndarray:
    """RISE (Petsiuk et al.) at the feature level: ``score_i = E[f(x_M) M_i] / p_keep``.

    ``M`` are seeded Bernoulli(p_keep) keep-masks over the t features (kept features from x,
    dropped ones from the baseline); f is the explained output (target column).
    """
    n = check_positive_int("n_masks", n_masks)
    p = check_positive_float("p_keep", p_keep)
    if not p < 1:
        raise ValueError(f"p_keep={p_keep!r} is not valid; expected a probability in (0, 1)")
    rng = np.random.default_rng(inp.seed)
    keep = rng.random((n, inp.features.t)) < p
    ids = torch.as_tensor(np.broadcast_to(inp.features.ids, tuple(inp.x.shape)).copy())
    pix = torch.as_tensor(keep)[:, ids]  # (n, *x.shape)
    batch = torch.where(pix, inp.x.unsqueeze(0), inp.baseline.unsqueeze(0))
    values = _scores_of(inp, batch)
    return (values[:, None] * keep).sum(axis=0) / (n * p)


def _rise(inp, n_masks: int = 500, p_keep: float = 0.5, **_):
    return FeatureScores(rise_scores(inp, n_masks, p_keep))


def _random(inp, **_):
    """Seeded random scores (a uniformly random trajectory)."""
    return FeatureScores(np.random.default_rng(inp.seed).permutation(inp.features.t).astype(np.float64))


def _has_conv(model) -> bool:
    return isinstance(model, torch.nn.Module) and _last_conv(model) is not None


_GRAD = ("gradient", "captum")
_PERT = ("perturbation", "captum")
register_baseline(
    "saliency",
    _saliency,
    needs_gradients=True,
    absolute=True,
    label="Saliency",
    tags=(*_GRAD, "core", "standard", "bam-paper"),
)
register_baseline(
    "input-x-gradient", _input_x_gradient, needs_gradients=True, label="InputXGrad", tags=(*_GRAD, "standard")
)
register_baseline(
    "integrated-gradients",
    _integrated_gradients,
    needs_gradients=True,
    label="IG",
    tags=(*_GRAD, "completeness", "core", "standard", "bam-paper"),
    n_steps=50,
)
register_baseline(
    "smoothgrad",
    _smoothgrad,
    needs_gradients=True,
    absolute=True,
    label="SmoothGrad",
    tags=(*_GRAD, "sampling", "bam-paper"),
    nt_samples=25,
    noise_level=0.15,
)
register_baseline("deeplift", _deeplift, needs_gradients=True, label="DeepLift", tags=(*_GRAD, "completeness"))
register_baseline(
    "guided-backprop", _guided_backprop, needs_gradients=True, label="GuidedBP", tags=(*_GRAD, "bam-paper")
)
register_baseline(
    "grad-cam",
    _grad_cam,
    needs_gradients=True,
    label="GradCAM",
    aggregate="mean",
    applies=_has_conv,
    tags=(*_GRAD, "layer", "conv-layer", "standard", "bam-paper"),
)
register_baseline("occlusion", _occlusion, aggregate="mean", label="Occlusion", tags=(*_PERT, "core", "standard"))
register_baseline("feature-ablation", _feature_ablation, aggregate="mean", label="FeatAblation", tags=_PERT)
register_baseline(
    "shapley-sampling",
    _shapley_sampling,
    aggregate="mean",
    label="ShapleySampl",
    tags=(*_PERT, "sampling", "completeness", "standard"),
    n_samples=25,
)
register_baseline(
    "kernel-shap", _kernel_shap, aggregate="mean", label="KernelSHAP", tags=(*_PERT, "sampling"), n_samples=300
)
register_baseline("lime", _lime, aggregate="mean", label="LIME", tags=(*_PERT, "sampling"), n_samples=300)
register_baseline(
    "rise", _rise, aggregate="mean", label="RISE", tags=("perturbation", "sampling"), n_masks=500, p_keep=0.5
)
register_baseline("random", _random, label="Random", tags=("random", "core", "standard"))

# the paper's IBA, Extremal Perturbation, Excitation Backprop and pixel-level RISE, registered after Captum's
_paper_baselines.register_all(register_baseline)

__all__ = [
    "AttributionInput",
    "BaselineMethod",
    "Attribution",
    "FeatureScores",
    "BASELINES",
    "register_baseline",
    "available_baselines",
    "get_baseline",
    "applicable_baselines",
    "baselines_tagged",
    "TAGS",
    "make_input",
    "attribute",
    "baseline_trajectory",
    "rise_scores",
]
