"""The paper's Table-2 baselines that Captum lacks: IBA, Extremal Perturbation, Excitation Backprop,
and RISE with pixel-level masks (the project's ``rise`` samples on the feature grid).

Each is registered in ``trace_opt.baselines`` (``available_baselines()``) and returns an input-shaped
map where higher means more important; how the map becomes one score per feature (the ranking
rule) is the registered default below and is recorded with every attribution:

==========================  =================================================  =========  ========
method                      map                                                aggregate  absolute
==========================  =================================================  =========  ========
``iba``                     capacity (bits) of a per-sample bottleneck at one  sum        no (>= 0)
                            layer, summed over channels, upsampled bilinearly
``extremal-perturbation``   sum over areas of the preserve-game masks          mean       no (>= 0)
``excitation-backprop``     marginal winning probability at the input          sum        no (>= 0;
                            (contrastive=True: target minus dual, signed)                 signed if
                                                                                          contrastive)
``rise-pixel``              E[f(x_M) M] / p over smooth pixel masks            mean       no (signed)
==========================  =================================================  =========  ========

``absolute=True`` is accepted by every method (``attribute(..., absolute=True)``); it changes only
the signed maps (contrastive EBP, pixel RISE on outputs that can be negative).

No maintained package provides these for current torch: TorchRay (Extremal Perturbation,
Excitation Backprop, RISE) was last released in 2020, requires torchvision and pycocotools, wraps
torchvision's ResNet classes for EBP and is under a non-commercial licence; the IBA authors' package
is not on PyPI. The implementations here follow the papers (and TorchRay's published defaults where
a paper leaves a constant open); the differences are stated per function.

What an absent input is replaced by is the ``AttributionInput.baseline`` (the deletion reference
in the evaluation), for Extremal Perturbation and pixel RISE alike; the papers use a blur (EP) or
zeros (RISE), both available as references (``make_reference``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int

__all__ = [
    "iba_capacity",
    "extremal_masks",
    "excitation_backprop",
    "ebp_supported",
    "rise_pixel_masks",
    "rise_pixel_saliency",
    "RANKING_RULES",
]

#: how each method's map becomes a feature ranking (the registered defaults; see the module docstring)
RANKING_RULES = {
    "iba": "sum of the capacity map (bits) over the feature's elements; capacity >= 0",
    "extremal-perturbation": "mean over the feature's elements of the masks summed over the areas; >= 0",
    "excitation-backprop": "sum of the marginal winning probability over the feature's elements (>= 0; "
    "contrastive=True gives a signed map: pass absolute=True to rank by magnitude)",
    "rise-pixel": "mean over the feature's elements of the pixel saliency (signed; absolute=True ranks by |.|)",
}


# --------------------------------------------------------------------------- helpers
def _score(out: torch.Tensor, target) -> torch.Tensor:
    """The explained scalar per batch row: the target column, or the only output."""
    return out[:, target] if target is not None else out.reshape(len(out), -1)[:, 0]


def _gaussian_kernel1d(sigma: float, dtype) -> torch.Tensor:
    radius = max(1, int(round(2 * sigma)))
    z = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (z / sigma) ** 2)
    return k / k.sum()


def _smooth2d(m: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of ``(B, C, H, W)`` over H, W (separable, replicate padding; differentiable)."""
    if sigma <= 0:
        return m
    k = _gaussian_kernel1d(sigma, m.dtype).to(m.device)
    r = (len(k) - 1) // 2
    b, c, h, w = m.shape
    out = m.reshape(b * c, 1, h, w)
    out = F.conv2d(F.pad(out, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return out.reshape(b, c, h, w)


def _leaves(model: torch.nn.Module) -> list:
    return [m for m in model.modules() if not any(True for _ in m.children())]


_ACTIVATIONS = (torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.ELU, torch.nn.GELU, torch.nn.SiLU)


def _resolve_layer(model, layer):
    """IBA's layer: a module (or dotted name) of the model, ``"input"``, or None = the rectified output
    of the middle Conv2d (convs[len(convs) // 2]; Schulz et al. put the bottleneck mid-network), or the
    input when the model has no Conv2d."""
    if isinstance(layer, str) and layer == "input":
        return "input"
    if layer is None:
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        if not convs:
            return "input"
        return rectified(model, convs[len(convs) // 2])
    return module_of(model, layer, "None, 'input', ")


def rectified(model: torch.nn.Module, module: torch.nn.Module) -> torch.nn.Module:
    """The activation right after ``module`` among the model's leaves when there is one, else ``module``
    (Grad-CAM and IBA use the rectified feature maps of a conv block)."""
    leaves = _leaves(model)
    pos = next(i for i, m in enumerate(leaves) if m is module)
    if pos + 1 < len(leaves) and isinstance(leaves[pos + 1], _ACTIVATIONS):
        return leaves[pos + 1]
    return module


def module_of(model: torch.nn.Module, layer, also: str = "") -> torch.nn.Module:
    """``layer`` (a module of the model or its dotted name) as the module; a ValueError naming what is
    accepted (``also``: other accepted values, for the message) otherwise."""
    if isinstance(layer, str):
        mods = dict(model.named_modules())
        if layer not in mods:
            raise ValueError(f"layer={layer!r} is not a module of the model; expected {also}one of {list(mods)[1:]}")
        return mods[layer]
    if isinstance(layer, torch.nn.Module) and any(layer is m for m in model.modules()):
        return layer
    raise ValueError(f"layer must be {also}a module of the model or its dotted name (see model.named_modules())")


# --------------------------------------------------------------------------- IBA
def _deletion_neighbourhood(inp, n: int, p_keep: float = 0.5) -> torch.Tensor:
    """``n`` copies of x with a seeded random half of the features replaced by the reference."""
    rng = np.random.default_rng(inp.seed + 7_919)
    keep = torch.as_tensor(rng.random((n, inp.features.t)) < p_keep)
    ids = torch.as_tensor(np.broadcast_to(inp.features.ids, tuple(inp.x.shape)).copy())
    return torch.where(keep[:, ids], inp.x.unsqueeze(0), inp.baseline.unsqueeze(0))


def iba_capacity(
    inp,
    layer=None,
    beta: float = 10.0,
    steps: int = 10,
    lr: float = 1.0,
    samples: int = 10,
    init_alpha: float = 5.0,
    sigma: float = 1.0,
    estimation_inputs=None,
    n_estimate: int = 64,
    relu=None,
) -> torch.Tensor:
    """Per-Sample Information Bottleneck (Schulz et al. 2020): the capacity (bits) per element of ``layer``.

    At ``layer`` the activation R is replaced by ``Z = lambda * R + (1 - lambda) * eps`` with
    ``eps ~ N(mu_R, sigma_R^2)``, mu_R and sigma_R the per-element mean and standard deviation of R over
    ``estimation_inputs`` (default: ``n_estimate`` copies of x with a seeded random half of its
    features deleted by the reference: the dataset the paper uses is not available to a per-input
    method). ``lambda = sigmoid(alpha)``, Gaussian-smoothed over space with ``sigma`` (feature-map
    pixels), starts at sigmoid(init_alpha); alpha is fitted by Adam (``lr``, ``steps`` iterations, each
    on ``samples`` noise draws) to ``CE(target) + beta * mean KL(Q(Z|R) || N(mu_R, sigma_R^2))`` (the
    paper's defaults: beta = 10, 10 steps, lr = 1, batch 10, alpha_0 = 5, sigma = 1). Elements with zero
    spread over the estimation inputs pass unchanged and carry zero capacity. ``relu`` (default: the
    layer is a ReLU) clamps Z at 0. A model with one output per input maximises that output (no CE).

    Returns the capacity map of the layer's output (without the batch dimension), in bits.
    """
    beta, steps, samples, lr = _check_iba(beta, steps, samples, lr)
    model = inp.model
    lay = _resolve_layer(model, layer)
    x = inp.x.unsqueeze(0)
    est = _estimation_batch(inp, estimation_inputs, n_estimate).to(x.dtype)
    tap = _LayerTap(lay)
    try:
        b = _bottleneck(model, tap, est, x)
        b.update(sigma=float(sigma), relu=isinstance(lay, torch.nn.ReLU) if relu is None else relu)
        alpha = torch.full_like(b["r"], float(init_alpha), requires_grad=True)
        opt = torch.optim.Adam([alpha], lr=lr)
        gen = torch.Generator().manual_seed(int(inp.seed))
        for _ in range(steps):
            lam = _iba_lambda(alpha, b)
            out = _iba_forward(model, tap, x, _iba_noisy(lam, b, samples, gen), samples)
            loss = _iba_task(out, inp.target, samples) + beta * _iba_kl(lam, b).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            cap = _iba_kl(_iba_lambda(alpha, b), b)[0] / math.log(2.0)
    finally:
        tap.close()
    return cap


def _check_iba(beta, steps, samples, lr) -> tuple:
    beta = float(beta)
    if not beta >= 0:
        raise ValueError(f"beta={beta!r} is not valid; expected a number >= 0")
    steps, samples = check_positive_int("steps", steps), check_positive_int("samples", samples)
    return beta, steps, samples, check_positive_float("lr", lr)


def _estimation_batch(inp, estimation_inputs, n_estimate: int) -> torch.Tensor:
    """The inputs mu_R and sigma_R are estimated on (default: the deletion neighbourhood of x)."""
    if estimation_inputs is None:
        return _deletion_neighbourhood(inp, check_positive_int("n_estimate", n_estimate))
    est = torch.as_tensor(np.asarray(estimation_inputs)).to(inp.x.dtype)
    if tuple(est.shape[1:]) != tuple(inp.x.shape):
        raise ValueError(
            f"estimation_inputs must have shape (N, *x.shape) = (N, {tuple(inp.x.shape)}); got {tuple(est.shape)}"
        )
    return est


class _LayerTap:
    """A forward hook on ``layer`` (none for ``"input"``) that records its output (``out``), or returns
    ``replacement`` in its place while one is set."""

    def __init__(self, layer):
        self.layer, self.out, self.replacement = layer, None, None
        self.handle = None if layer == "input" else layer.register_forward_hook(self._hook)

    def _hook(self, _mod, _args, out):
        if self.replacement is None:
            self.out = out.detach()
            return None
        return self.replacement

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def _bottleneck(model, tap: _LayerTap, est: torch.Tensor, x: torch.Tensor) -> dict:
    """R at the layer for x, and mu_R, sigma_R over the estimation inputs (``active``: elements that vary)."""
    with torch.no_grad():
        if tap.layer == "input":
            acts, r = est, x
        else:
            model(est)
            acts = tap.out
            model(x)
            r = tap.out
    mu, std = acts.mean(dim=0, keepdim=True), acts.std(dim=0, keepdim=True)
    active = std > 1e-6 * (1 + acts.abs().amax())
    std = torch.where(active, std, torch.ones_like(std))
    return {"r": r, "mu": mu, "std": std, "active": active, "spatial": r.dim() == 4}


def _iba_lambda(a: torch.Tensor, b: dict) -> torch.Tensor:
    """lambda = sigmoid(alpha), Gaussian-smoothed over space."""
    lam = torch.sigmoid(a)
    return _smooth2d(lam, b["sigma"]) if b["spatial"] and b["sigma"] and b["sigma"] > 0 else lam


def _iba_kl(lam: torch.Tensor, b: dict) -> torch.Tensor:
    """KL(Q(Z|R) || N(mu_R, sigma_R^2)) per element (nats; zero where R does not vary)."""
    r_norm = (b["r"] - b["mu"]) / b["std"]
    var_z = (1 - lam) ** 2
    kl = -0.5 * (1 + torch.log(var_z.clamp(min=1e-12)) - (r_norm * lam) ** 2 - var_z)
    return torch.where(b["active"], kl, torch.zeros_like(kl))


def _iba_noisy(lam: torch.Tensor, b: dict, samples: int, gen: torch.Generator) -> torch.Tensor:
    """``samples`` draws of Z = lambda R + (1 - lambda) eps (R itself where it does not vary; >= 0 after a ReLU)."""
    r = b["r"]
    eps = torch.randn((samples,) + tuple(r.shape[1:]), generator=gen, dtype=r.dtype) * b["std"] + b["mu"]
    z = lam * r + (1 - lam) * eps
    z = torch.where(b["active"], z, r.expand_as(z))
    return z.clamp(min=0) if b["relu"] else z


def _iba_forward(model, tap: _LayerTap, x: torch.Tensor, z: torch.Tensor, samples: int) -> torch.Tensor:
    """The model's outputs with the layer's output replaced by ``z``."""
    if tap.layer == "input":
        return model(z)
    tap.replacement = z
    try:
        return model(x.expand((samples,) + tuple(x.shape[1:])))
    finally:
        tap.replacement = None


def _iba_task(out: torch.Tensor, target, samples: int) -> torch.Tensor:
    """Cross-entropy of the target (a model with one output per input: minus that output)."""
    if out.dim() == 2 and target is not None:
        return F.cross_entropy(out, torch.full((samples,), target, dtype=torch.long))
    return -_score(out, target).mean()


def _iba(inp, **options):
    cap = iba_capacity(inp, **options)
    shape = tuple(inp.x.shape)
    if tuple(cap.shape) == shape:  # bottleneck at the input (or a layer of the input's shape)
        return cap
    if cap.dim() != 3 or inp.x.dim() < 2:
        raise ValueError(
            f"iba: the layer's output {tuple(cap.shape)} is not a feature map (C, h, w) that can be "
            f"upsampled to the input {shape}; choose a convolutional layer or layer='input'"
        )
    heat = cap.sum(dim=0, keepdim=True).unsqueeze(0)  # (1, 1, h, w): bits per position, all channels
    up = F.interpolate(heat, size=shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return up.expand(shape)


# --------------------------------------------------------------------------- Extremal Perturbation
def extremal_masks(
    inp,
    areas=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8),
    max_iter: int = 300,
    step=None,
    smooth=None,
    lr: float = 0.1,
    regul_weight=(0.1, 50.0),
    reward: str = "simple",
) -> torch.Tensor:
    """Extremal Perturbation, preservation game (Fong, Patrick & Vedaldi 2019): one smooth mask per area.

    For each area a, maximise ``f(ref + m * (x - ref)) / |f(x) - f(ref)| - lambda_i * ||sort(m) - r_a||^2 / n``
    over masks m in [0, 1], r_a the sorted vector with a fraction a of ones (the paper's area
    constraint), lambda growing geometrically over the ``max_iter`` iterations from ``regul_weight[0]``
    to ``regul_weight[1]``: the reward shapes the mask first, the area constraint is enforced last.
    The reward is divided by its range ``|f(x) - f(ref)|`` and the energy multiplied by the number of
    mask parameters, so the schedule and ``lr`` do not depend on the model's scale or the image size
    (TorchRay's fixed weights 300 -> 4,900 are tuned to ImageNet logits at 224 px). SGD with momentum
    0.9 (dampening 0.9, as TorchRay), parameters clamped to [0, 1] after each step and started at 0.5
    (TorchRay starts at 1, where pixels the reward ignores can hold the top slots of the sorted area
    constraint forever). Masks are smooth: parameters on a grid of ``step``-pixel cells (default
    min(H, W) / 7, at least 1 pixel), upsampled bilinearly and Gaussian-smoothed with ``smooth`` pixels
    (default step / 2), in place of TorchRay's smooth-max generator; no jitter (TorchRay flips the
    image horizontally every other step). ``reward="contrastive"`` uses f_target - max of the other
    classes. 1-D inputs get one free mask value per element. Returns the masks
    ``(len(areas), *x's spatial shape)``; the attribution map is their sum over the areas (a pixel kept
    at smaller areas is kept in more masks).
    """
    areas = [float(a) for a in np.atleast_1d(np.asarray(areas, dtype=float))]
    if not areas or not all(0 < a < 1 for a in areas):
        raise ValueError(f"areas={areas!r} is not valid; expected fractions in (0, 1)")
    max_iter = check_positive_int("max_iter", max_iter)
    lr = check_positive_float("lr", lr)
    check_choice("reward", reward, ("simple", "contrastive"))
    w0, w1 = (float(v) for v in regul_weight)
    x = inp.x.unsqueeze(0)
    ref = inp.baseline.unsqueeze(0).to(x.dtype)
    g = _ep_grid(x, len(areas), step, smooth)
    target_sorted = torch.zeros(len(areas), g["n_el"], dtype=x.dtype)
    for i, a in enumerate(areas):
        target_sorted[i, g["n_el"] - int(round(g["n_el"] * a)) :] = 1.0
    if not 0 < w0 <= w1:
        raise ValueError(f"regul_weight={regul_weight!r} is not valid; expected (start, end) with 0 < start <= end")
    with torch.no_grad():
        span = float((_score(inp.model(torch.cat([x, ref])), inp.target).diff().abs()).reshape(-1)[0])
    span = span if span > 0 else 1.0
    pm, n_par = g["params"], g["params"][0].numel()
    opt = torch.optim.SGD([pm], lr=lr, momentum=0.9, dampening=0.9)
    growth = (w1 / w0) ** (1 / max(1, max_iter - 1))
    weight = w0
    for _ in range(max_iter):
        m = _ep_mask(pm, g)
        s = _ep_reward(inp, x, ref, m, g, reward)
        regul = ((m.reshape(len(areas), -1).sort(dim=1).values - target_sorted) ** 2).mean(dim=1)
        energy = n_par * (s / span - weight * regul).sum()  # O(1) gradients per parameter at any resolution
        opt.zero_grad()
        (-energy).backward()
        opt.step()
        with torch.no_grad():
            pm.clamp_(0, 1)
        weight *= growth
    with torch.no_grad():
        return _ep_mask(pm, g).detach()


def _ep_grid(x: torch.Tensor, n_a: int, step, smooth) -> dict:
    """The mask parameters (``n_a`` masks, started at 0.5): on a grid of ``step``-pixel cells for an image,
    one per element otherwise; ``n_el``: the elements of one mask."""
    if x.dim() < 3:
        pm = torch.full((n_a,) + tuple(x.shape[1:]), 0.5, dtype=x.dtype, requires_grad=True)
        return {"image": False, "params": pm, "n_el": int(np.prod(x.shape[1:])), "x_dim": x.dim()}
    h, w = x.shape[-2:]
    step = max(1, int(round(min(h, w) / 7))) if step is None else check_positive_int("step", step)
    smooth = step / 2 if smooth is None else float(smooth)
    pm = torch.full((n_a, 1, math.ceil(h / step), math.ceil(w / step)), 0.5, dtype=x.dtype, requires_grad=True)
    return {"image": True, "params": pm, "n_el": h * w, "h": h, "w": w, "smooth": smooth, "x_dim": x.dim()}


def _ep_mask(p: torch.Tensor, g: dict) -> torch.Tensor:
    """The masks of parameters ``p``: upsampled bilinearly and smoothed for an image, as they are otherwise."""
    if not g["image"]:
        return p
    m = F.interpolate(p, size=(g["h"], g["w"]), mode="bilinear", align_corners=False)
    return _smooth2d(m, g["smooth"]).clamp(0, 1)[:, 0]  # (A, H, W)


def _ep_reward(inp, x, ref, m: torch.Tensor, g: dict, reward: str) -> torch.Tensor:
    """The target's output on each preserved input ref + m (x - ref) (contrastive: minus the best other class)."""
    n_a = m.shape[0]
    mb = m.reshape((n_a,) + (1,) * (g["x_dim"] - 3) + (g["h"], g["w"])) if g["image"] else m
    out = inp.model(ref + mb * (x - ref))
    s = _score(out, inp.target)
    if reward == "contrastive" and out.dim() == 2 and inp.target is not None:
        others = out.clone()
        others[:, inp.target] = -torch.inf
        s = s - others.max(dim=1).values
    return s


def _extremal_perturbation(inp, **options):
    masks = extremal_masks(inp, **options)
    total = masks.sum(dim=0)  # pixels kept in smaller areas are kept in more masks: higher is more important
    return total.expand(tuple(inp.x.shape)) if inp.x.dim() >= 2 else total


# --------------------------------------------------------------------------- Excitation Backprop
_EBP_WEIGHTED = (torch.nn.Linear, torch.nn.Conv2d)
_EBP_POOL = (torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d)
_EBP_PASS = (torch.nn.ReLU, torch.nn.Flatten, torch.nn.Dropout, torch.nn.Identity)
_EBP_ALL = _EBP_WEIGHTED + _EBP_POOL + _EBP_PASS + (torch.nn.MaxPool2d,)


def ebp_supported(model) -> bool:
    """Whether every leaf module is one Excitation Backprop handles (Linear, Conv2d, ReLU, max/avg pooling,
    Flatten, Dropout, Identity); the chain itself is checked on the first call."""
    if not isinstance(model, torch.nn.Module):
        return False
    leaves = _leaves(model)
    return (
        bool(leaves)
        and all(isinstance(m, _EBP_ALL) for m in leaves)
        and any(isinstance(m, _EBP_WEIGHTED) for m in leaves)
    )


def _trace_chain(model, x):
    """The leaf modules in execution order with their input and output, checked to form a chain."""
    calls = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0].detach(), out.detach())))
        for m in _leaves(model)
    ]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for hnd in hooks:
            hnd.remove()
    prev = x
    for mod, a, _o in calls:
        if not isinstance(mod, _EBP_ALL):
            raise ValueError(
                f"excitation-backprop handles Linear, Conv2d, ReLU, pooling, Flatten, Dropout and "
                f"Identity layers; the model uses {type(mod).__name__}"
            )
        if a.numel() != prev.numel() or not torch.equal(a.reshape(-1), prev.reshape(-1)):
            raise ValueError(
                "excitation-backprop needs a feed-forward chain of layers (each layer's input is the "
                f"previous layer's output); {type(mod).__name__} gets another tensor (a skip "
                "connection or an operation outside modules)"
            )
        prev = _o
    if prev.numel() != out.numel() or not torch.equal(prev.reshape(-1), out.reshape(-1)):
        raise ValueError("excitation-backprop: the model's output is not its last layer's output")
    return calls


def _excite(f_pos, a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``P_in = a * J^T (P_out / f_pos(a))`` for a layer f_pos with non-negative weights (zero where f_pos is 0)."""
    a = a.detach().requires_grad_(True)
    z = f_pos(a)
    s = torch.where(z > 0, p / torch.where(z > 0, z, torch.ones_like(z)), torch.zeros_like(z))
    (g,) = torch.autograd.grad(z, a, grad_outputs=s.detach())
    return (a * g).detach()


def _weighted_pos(mod, sign: float = 1.0):
    w = (sign * mod.weight).clamp(min=0)
    if isinstance(mod, torch.nn.Linear):
        return lambda a: F.linear(a, w)
    return lambda a: F.conv2d(a, w, None, mod.stride, mod.padding, mod.dilation, mod.groups)


def excitation_backprop(model, x: torch.Tensor, target: int, contrastive: bool = False, return_layers: bool = False):
    """Excitation Backprop (Zhang et al. 2016): the marginal winning probability (MWP) of every input element.

    The top layer's P is one-hot at ``target``; through a weighted layer (Linear, Conv2d) with input
    activations a >= 0 and excitatory weights W+ = max(W, 0), ``P_j = a_j sum_i W+_ij P_i / sum_k W+_ik a_k``
    (biases ignored, as in the paper); ReLU, Flatten, Dropout pass P unchanged; max pooling passes it to
    the winning unit; average pooling is a layer with positive weights. P is conserved from layer to
    layer (sums to 1) wherever every unit with P > 0 has a positive excitatory input. A signed input
    (e.g. standardised columns) enters as two non-negative units per element, max(x, 0) with weights W
    and max(-x, 0) with weights -W, whose P are added. ``contrastive=True`` returns P(target) - P(dual),
    the dual unit having the target's top-layer weights negated (c-MWP; signed, sums to 0).

    Returns the input's MWP map (x's shape); with ``return_layers`` also the list of P at every layer's
    input, bottom to top, ending with the top P.
    """
    calls = _trace_chain(model, x.unsqueeze(0))
    top_mod, top_out = calls[-1][0], calls[-1][2]
    last_w = max(i for i, (m, _a, _o) in enumerate(calls) if isinstance(m, _EBP_WEIGHTED))
    if last_w != len(calls) - 1 or not isinstance(top_mod, torch.nn.Linear):
        raise ValueError("excitation-backprop needs the model to end with a Linear layer giving the class scores")
    if top_out.dim() != 2 or target is None:
        raise ValueError("excitation-backprop needs class scores (B, n_classes) and a target class")

    def run(sign_top: float):
        p = torch.zeros_like(top_out)
        p[0, target] = 1.0
        layers = [p]
        for i in range(len(calls) - 1, -1, -1):
            mod, a, out = calls[i]
            if isinstance(mod, _EBP_WEIGHTED):
                if i == len(calls) - 1 and sign_top < 0:
                    wt = mod.weight.detach().clone()
                    wt[target] = -wt[target]
                    w = wt.clamp(min=0)

                    def f(a_, w=w):
                        return F.linear(a_, w)

                else:
                    f = _weighted_pos(mod)
                if i == 0 and (a < 0).any():  # x = x+ - x-: units x+ (weights W) and x- (weights -W), one normaliser
                    fneg = _weighted_pos(mod, -1.0)
                    split = torch.stack([a.clamp(min=0), (-a).clamp(min=0)])
                    p = _excite(lambda s2, f=f, fneg=fneg: f(s2[0]) + fneg(s2[1]), split, p).sum(dim=0)
                else:
                    if (a < 0).any():
                        raise ValueError(
                            f"excitation-backprop needs non-negative activations into "
                            f"{type(mod).__name__} (layer {i}); put a ReLU before it"
                        )
                    p = _excite(f, a, p)
            elif isinstance(mod, torch.nn.MaxPool2d):
                aa = a.detach().requires_grad_(True)
                (p,) = torch.autograd.grad(mod(aa), aa, grad_outputs=p.reshape(out.shape))
            elif isinstance(mod, _EBP_POOL):
                p = _excite(mod, a, p.reshape(out.shape))
            else:  # ReLU, Flatten, Dropout, Identity: P of a unit is P of its activation
                p = p.reshape(a.shape)
            layers.append(p)
        return layers[::-1]

    layers = run(1.0)
    if contrastive:
        dual = run(-1.0)
        layers = [a - b for a, b in zip(layers, dual)]
    mwp = layers[0].reshape(tuple(x.shape))
    return (mwp, [q[0] for q in layers]) if return_layers else mwp


def _excitation_backprop(inp, contrastive: bool = False, **_):
    x = inp.x.to(next(inp.model.parameters()).dtype)
    return excitation_backprop(inp.model, x, inp.target, contrastive=bool(contrastive))


# --------------------------------------------------------------------------- pixel-level RISE
def rise_pixel_masks(
    shape, n_masks: int, s: int = 7, p_keep: float = 0.5, seed: int = 0, dtype=torch.float64
) -> torch.Tensor:
    """RISE masks (Petsiuk et al. 2018): ``n_masks`` binary ``s x s`` grids (cells kept with prob ``p_keep``),
    upsampled bilinearly to ``(s + 1) * ceil(H / s)`` per side and cropped to ``H x W`` at a random offset
    in ``[0, ceil(H / s)) x [0, ceil(W / s))``. ``shape`` is ``(H, W)``; a 1-D shape ``(d,)`` gives plain
    per-element Bernoulli masks. Returns ``(n_masks, *shape)`` values in [0, 1]."""
    n = check_positive_int("n_masks", n_masks)
    rng = np.random.default_rng(seed)
    if len(shape) == 1:
        return torch.as_tensor(rng.random((n, shape[0])) < p_keep).to(dtype)
    h, w = shape[-2:]
    s = check_positive_int("s", s)
    sh, sw = min(s, h), min(s, w)
    ch, cw = math.ceil(h / sh), math.ceil(w / sw)
    grid = torch.as_tensor(rng.random((n, 1, sh, sw)) < p_keep).to(dtype)
    shifts = rng.integers(0, [ch, cw], size=(n, 2))
    up = F.interpolate(grid, size=((sh + 1) * ch, (sw + 1) * cw), mode="bilinear", align_corners=False)[:, 0]
    out = torch.empty((n, h, w), dtype=dtype)
    for i, (dy, dx) in enumerate(shifts):
        out[i] = up[i, dy : dy + h, dx : dx + w]
    return out


def rise_pixel_saliency(inp, n_masks: int = 1000, s: int = 7, p_keep: float = 0.5) -> torch.Tensor:
    """Pixel-level RISE: ``S = sum_i f(ref + M_i (x - ref)) M_i / (n_masks * p_keep)`` over the masks of
    ``rise_pixel_masks`` (broadcast over channels); returns the map over x's spatial shape."""
    p = check_positive_float("p_keep", p_keep)
    if not p < 1:
        raise ValueError(f"p_keep={p_keep!r} is not valid; expected a probability in (0, 1)")
    x, ref = inp.x, inp.baseline.to(inp.x.dtype)
    spatial = tuple(x.shape[-2:]) if x.dim() >= 2 else tuple(x.shape)
    masks = rise_pixel_masks(spatial, n_masks, s, p, seed=inp.seed, dtype=torch.float64)
    total = torch.zeros(spatial, dtype=torch.float64)
    with torch.no_grad():
        for a in range(0, len(masks), inp.batch_size):
            m = masks[a : a + inp.batch_size]
            mb = m.reshape((len(m),) + (1,) * (x.dim() - len(spatial)) + spatial).to(x.dtype)
            out = inp.forward(ref + mb * (x - ref))
            vals = _score(out, inp.target).double()
            total += torch.einsum("n,n...->...", vals, m)
    return total / (len(masks) * p)


def _rise_pixel(inp, **options):
    sal = rise_pixel_saliency(inp, **options)
    return sal.expand(tuple(inp.x.shape)) if inp.x.dim() >= 2 else sal


def register_all(register) -> None:
    """Register the four methods with ``trace_opt.baselines.register_baseline`` (called once by it)."""
    register(
        "iba",
        _iba,
        needs_gradients=True,
        aggregate="sum",
        label="IBA",
        tags=("paper", "layer", "optimisation"),
        beta=10.0,
        steps=10,
        lr=1.0,
    )
    register(
        "extremal-perturbation",
        _extremal_perturbation,
        needs_gradients=True,
        aggregate="mean",
        label="EP",
        tags=("paper", "perturbation", "optimisation"),
        max_iter=300,
    )
    register(
        "excitation-backprop",
        _excitation_backprop,
        needs_gradients=True,
        aggregate="sum",
        label="EBP",
        applies=ebp_supported,
        tags=("paper", "propagation"),
    )
    register(
        "rise-pixel",
        _rise_pixel,
        aggregate="mean",
        label="RISE (pixel)",
        tags=("paper", "perturbation", "sampling"),
        n_masks=1000,
        s=7,
        p_keep=0.5,
    )
