"""Model-based instance sources for ``instances build``: which model, which inputs, which features.

The shipped digits CNN gives nearly additive instances whatever the output or reference (measured
in ``bench/results/model_families.md``: greedy is optimal or within 0.5 % of the optimum's margin over a
random order on almost every one). This module adds sources whose D is not near-additive:

``logic-digits`` (``LogicDigitsCNN``)
    a strip of ``regions`` scikit-learn digits side by side (``1 x 8 x 8*regions``); each region's
    bit is ``digit >= 5``; the label is a logic ``rule`` of the bits: ``xor`` (parity), ``and``
    (all set), ``or`` (any set). The CNN reads each region with one shared trunk and combines the
    region codes with an MLP, trained here (seeded, one thread, cached like the bundled models:
    ``trace_opt.models.data``; nothing is downloaded). Deleting a region's patches then changes the output
    only through the rule, so features of different regions interact by construction. Why the
    parity of 3 regions matters for ``le-mo``: ``c(S) = D(S) - D(all \\ S)`` keeps only the odd-order
    (Walsh) part of D, so a pairwise XOR cancels in it while a 3-way parity does not.
``digits-cnn8`` / ``digits-cnn28``
    the bundled digits CNNs (``trace_opt.models.data.digits_cnn``), as ``instances build`` always did.
``breast-cancer-mlp``
    the bundled tabular MLP on the 30 breast-cancer columns; the feature "grid" ``1xT`` splits the
    columns into T contiguous groups.

``features="superpixels"`` replaces the square grid by an irregular segmentation with the same t:
a seeded Voronoi partition of the image (``voronoi_segments``; cells of uneven shape and size).

``model_source(name, model_seed, data_seed, **options)`` returns a ``ModelSource``: the model, the test
inputs and labels, a name prefix and the metadata to record; ``instances.build_library`` uses it.

Seeds: ``model_seed`` picks the weights (a model is trained on the split of its own seed, as
``trace_opt.models.data`` trains the bundled ones), ``data_seed`` the split the test inputs are drawn from.
With both 0 (the default) the inputs are the model's own held-out split; another ``data_seed`` draws test
inputs from another split, which may hold inputs the model was trained on. No search runs here: the
search's ``seed`` has no part in a source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from trace_opt.core.features import segmentation_features, tabular_features
from trace_opt.core.fingerprint import model_fingerprint
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.models.data import (
    CACHE_VERSION,
    breast_cancer_mlp,
    cached_model,
    digits_cnn,
    load_breast_cancer_split,
    load_digits_split,
)

RULES = ("xor", "and", "or")
MODELS = ("digits-cnn8", "digits-cnn28", "logic-digits", "breast-cancer-mlp")
FEATURE_KINDS = ("grid", "superpixels")

#: training settings of the logic-digits CNN (part of its cache key)
_LOGIC_TRAINING = {
    "epochs": 20,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 0.0,
    "n_train": 8000,
    "n_test": 2000,
    "threshold": 5,
}


# ------------------------------------------------------------------------------------ the model
class LogicDigitsCNN(nn.Module):
    """CNN for a strip of ``regions`` digits ``(B, 1, 8, 8 * regions)``.

    Each 8 x 8 region goes through one shared trunk (conv16, conv32, 2x2 max-pool, linear 32) and the
    ``regions`` codes are concatenated into an MLP (64 hidden) with 2 outputs (rule false / true).
    No dropout or batch norm: in eval mode D(S) is a set function.
    """

    arch = "logic-digits-cnn"

    def __init__(self, regions: int = 3, width: int = 16):
        super().__init__()
        self.regions = check_positive_int("regions", regions, minimum=2)
        width = check_positive_int("width", width)
        self.input_shape = (1, 8, 8 * self.regions)
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 16, 32),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(32 * self.regions, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        # (B, 1, 8, 8R) -> (B * R, 1, 8, 8): region j = columns 8j..8j+7
        parts = x.reshape(b, 1, 8, self.regions, 8).permute(0, 3, 1, 2, 4).reshape(b * self.regions, 1, 8, 8)
        codes = self.trunk(parts).reshape(b, -1)
        return self.head(codes)


def apply_rule(bits: np.ndarray, rule: str) -> np.ndarray:
    """The label of each row of region bits (N, regions) under ``rule`` (xor = parity, and, or)."""
    check_choice("rule", rule, RULES)
    bits = np.asarray(bits, dtype=np.int64)
    if rule == "xor":
        return bits.sum(axis=1) % 2
    if rule == "and":
        return bits.min(axis=1)
    return bits.max(axis=1)


def _strips(
    X: torch.Tensor, y: torch.Tensor, n: int, regions: int, rule: str, threshold: int, rng: np.random.Generator
):
    """n strips of ``regions`` digits drawn from (X, y) with balanced labels; returns (strips, labels, digits)."""
    y_np = y.numpy()
    want = np.arange(n) % 2  # half true, half false: AND / OR of 3 bits are otherwise 1/8 or 7/8 one class
    rng.shuffle(want)
    idx = np.empty((n, regions), dtype=np.int64)
    for label in (0, 1):  # rejection sampling: strips of random digits until every slot of this label is filled
        slots = np.flatnonzero(want == label)
        got: list = []
        while len(got) < len(slots):
            cand = rng.integers(len(y_np), size=(2 * len(slots) + 8, regions))
            ok = cand[apply_rule(y_np[cand] >= threshold, rule) == label]
            got.extend(ok[: len(slots) - len(got)])
        if len(slots):
            idx[slots] = np.asarray(got)
    strips = torch.cat([X[torch.as_tensor(idx[:, j])] for j in range(regions)], dim=-1)
    digits = y_np[idx]
    return strips.contiguous(), torch.as_tensor(want, dtype=torch.int64), digits


def load_logic_digits(
    regions: int = 3,
    rule: str = "xor",
    data_seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    threshold: int | None = None,
    return_digits: bool = False,
):
    """Strips of ``regions`` digits (train strips from the digits train split, test strips from the test
    split, ``trace_opt.models.data.load_digits_split(8, data_seed)``; the strips drawn from ``data_seed``
    too), labels by ``rule`` of ``digit >= threshold``, balanced. Returns ``(X_train, X_test, y_train,
    y_test)``, and with ``return_digits`` also ``digits_train``, ``digits_test`` (N, regions): the digit
    class in each region of each strip."""
    regions = check_positive_int("regions", regions, minimum=2)
    check_choice("rule", rule, RULES)
    data_seed = check_positive_int("data_seed", data_seed, minimum=0)
    n_train = _LOGIC_TRAINING["n_train"] if n_train is None else check_positive_int("n_train", n_train)
    n_test = _LOGIC_TRAINING["n_test"] if n_test is None else check_positive_int("n_test", n_test)
    threshold = _LOGIC_TRAINING["threshold"] if threshold is None else int(threshold)
    X_tr, X_te, y_tr, y_te = load_digits_split(8, data_seed)
    rng = np.random.default_rng([data_seed, regions, RULES.index(rule)])
    a, ya, digits_a = _strips(X_tr, y_tr, n_train, regions, rule, threshold, rng)
    b, yb, digits_b = _strips(X_te, y_te, n_test, regions, rule, threshold, rng)
    return (a, b, ya, yb, digits_a, digits_b) if return_digits else (a, b, ya, yb)


def logic_digits_cnn(regions: int = 3, rule: str = "xor", model_seed: int = 0, cache_dir=None) -> nn.Module:
    """``LogicDigitsCNN`` trained here on ``load_logic_digits(regions, rule, model_seed)``: Adam on the
    cross-entropy of the rule's label plus an auxiliary cross-entropy of each region's bit read from its
    code by a linear layer used only in training (without it, a 3-way parity stays at chance: no single
    region correlates with the label, so gradient descent has nothing to start from). Seeded, one
    thread; cached in ``cache_dir`` (as ``trace_opt.models.data``: file keyed by every setting; no weights ship
    and training is not bit-identical across CPUs). Returns the model in eval mode with
    ``test_accuracy`` and ``weights_source`` (``"cache"`` or ``"trained"``). ``model_seed`` fixes the weights:
    the training strips and the initialisation and batch order."""
    regions = check_positive_int("regions", regions, minimum=2)
    check_choice("rule", rule, RULES)
    seed = check_positive_int("model_seed", model_seed, minimum=0)
    X_tr, X_te, y_tr, y_te = load_logic_digits(regions, rule, seed)
    config = {
        "arch": LogicDigitsCNN.arch,
        "version": CACHE_VERSION,
        "regions": regions,
        "rule": rule,
        "seed": seed,  # the model seed, under the cache key's name (renaming it would orphan cached weights)
        "width": 16,
        "aux_loss": 1.0,
        **_LOGIC_TRAINING,
    }

    _, _, _, _, digits_tr, _ = load_logic_digits(regions, rule, seed, return_digits=True)
    bits = torch.as_tensor((digits_tr >= _LOGIC_TRAINING["threshold"]).astype(np.int64))

    def fit(model):  # runs seeded on one thread (cached_model)
        aux = nn.Linear(32, 2)
        gen = torch.Generator().manual_seed(seed)
        params = list(model.parameters()) + list(aux.parameters())
        opt = torch.optim.Adam(params, lr=config["lr"], weight_decay=config["weight_decay"])
        ce = nn.CrossEntropyLoss()
        model.train()
        n, bs = len(X_tr), config["batch_size"]
        for _ in range(config["epochs"]):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                xb = X_tr[idx]
                b = xb.shape[0]
                parts = xb.reshape(b, 1, 8, regions, 8).permute(0, 3, 1, 2, 4).reshape(b * regions, 1, 8, 8)
                codes = model.trunk(parts)
                out = model.head(codes.reshape(b, -1))
                loss = ce(out, y_tr[idx]) + config["aux_loss"] * ce(aux(codes), bits[idx].reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    return cached_model(
        config,
        lambda: LogicDigitsCNN(regions, width=16),
        (X_tr, X_te, y_tr, y_te),
        cache_dir,
        fit=fit,
        stem=f"{config['arch']}-{regions}{rule}-seed{seed}",
    )


# -------------------------------------------------------------------------------- superpixels
def voronoi_segments(shape, t: int, segment_seed: int = 0) -> np.ndarray:
    """An irregular segmentation of an ``H x W`` image into exactly t cells: t distinct pixels drawn from
    ``segment_seed`` are the sites, every pixel joins its nearest site (ties to the lowest site). Every cell is
    non-empty (a site is nearest to itself) and the cells differ in shape and size, unlike a grid."""
    h, w = (int(s) for s in shape)
    t = check_positive_int("t", t, minimum=2)
    if t > h * w:
        raise ValueError(f"t={t} superpixels do not fit an {h} x {w} image ({h * w} pixels)")
    rng = np.random.default_rng(check_positive_int("segment_seed", segment_seed, minimum=0))
    sites = rng.choice(h * w, size=t, replace=False)
    sy, sx = np.divmod(sites, w)
    yy, xx = np.mgrid[0:h, 0:w]
    d = (yy[..., None] - sy) ** 2 + (xx[..., None] - sx) ** 2  # (H, W, t)
    return np.argmin(d, axis=-1).astype(np.int64)


# ------------------------------------------------------------------------------------- sources
@dataclass
class ModelSource:
    """What ``instances.build_library`` needs from a model: the model, its test inputs and labels, a file
    name prefix, the metadata recorded per instance, and how to turn a grid into features."""

    model: nn.Module
    X_test: torch.Tensor
    y_test: torch.Tensor
    prefix: str
    metadata: dict
    tabular: bool = False
    input_info: dict = field(default_factory=dict)
    extra_labels: np.ndarray | None = None

    def features(self, grid: tuple[int, int], kind: str = "grid", segment_seed: int = 0):
        """Features for one instance: a ROWS x COLS grid, an irregular segmentation with rows * cols cells
        (``superpixels``, drawn from ``segment_seed``), or for tabular inputs 1 x T contiguous column groups."""
        check_choice("features", kind, FEATURE_KINDS)
        rows, cols = grid
        if self.tabular:
            if rows != 1 or kind != "grid":
                raise ValueError(
                    f"grid {rows}x{cols}: the tabular model takes 1xT (T contiguous column groups) and features='grid'"
                )
            n = int(self.X_test.shape[-1])
            if not 2 <= cols <= n:
                raise ValueError(f"grid 1x{cols}: T must be in 2..{n} (the number of columns)")
            return tabular_features(n, groups=[g.tolist() for g in np.array_split(np.arange(n), cols)])
        if kind == "grid":
            return (rows, cols)
        return segmentation_features(voronoi_segments(self.X_test.shape[-2:], rows * cols, segment_seed))


def model_source(
    name: str = "digits-cnn8", model_seed: int = 0, data_seed: int = 0, rule: str = "xor", regions: int = 3
) -> ModelSource:
    """The model ``name`` (``MODELS``) with weights ``model_seed`` and the test inputs of split ``data_seed``
    (see the module docstring); ``rule`` and ``regions`` are for ``logic-digits``."""
    check_choice("model", name, MODELS)
    model_seed = check_positive_int("model_seed", model_seed, minimum=0)
    data_seed = check_positive_int("data_seed", data_seed, minimum=0)
    if name in ("digits-cnn8", "digits-cnn28"):
        return _digits_source(8 if name == "digits-cnn8" else 28, model_seed, data_seed)
    if name == "breast-cancer-mlp":
        return _breast_cancer_source(model_seed, data_seed)
    return _logic_source(regions, rule, model_seed, data_seed)


def _digits_source(size: int, model_seed: int, data_seed: int) -> ModelSource:
    model = digits_cnn(size, model_seed)
    _, X, _, y = load_digits_split(size, data_seed)
    return ModelSource(
        model,
        X,
        y,
        f"digits{size}",
        {
            "model": f"trace_opt.models.data.digits_cnn({size}, {model_seed})",
            "model_seed": model_seed,
            "model_fingerprint": model_fingerprint(model),
        },
        input_info={"dataset": "sklearn digits", "split": "test", "data_seed": data_seed, "size": size},
    )


def _breast_cancer_source(model_seed: int, data_seed: int) -> ModelSource:
    model = breast_cancer_mlp(model_seed)
    _, X, _, y, _ = load_breast_cancer_split(data_seed)
    return ModelSource(
        model,
        X,
        y,
        "cancer",
        {
            "model": f"trace_opt.models.data.breast_cancer_mlp({model_seed})",
            "model_seed": model_seed,
            "model_fingerprint": model_fingerprint(model),
        },
        tabular=True,
        input_info={"dataset": "sklearn breast cancer", "split": "test", "data_seed": data_seed},
    )


def _logic_source(regions: int, rule: str, model_seed: int, data_seed: int) -> ModelSource:
    model = logic_digits_cnn(regions=regions, rule=rule, model_seed=model_seed)
    _, X, _, y, _, digits = load_logic_digits(regions, rule, data_seed, return_digits=True)
    return ModelSource(
        model,
        X,
        y,
        f"logic{regions}{rule}",
        {
            "model": f"trace_opt.benchmarks.model_sources.logic_digits_cnn(regions={regions}, rule={rule!r}, "
            f"model_seed={model_seed})",
            "model_seed": model_seed,
            "model_fingerprint": model_fingerprint(model),
            "model_test_accuracy": float(model.test_accuracy),
        },
        input_info={
            "dataset": f"strips of {regions} sklearn digits, label = {rule} of digit >= {_LOGIC_TRAINING['threshold']}",
            "split": "test",
            "data_seed": data_seed,
        },
        extra_labels=digits,
    )
