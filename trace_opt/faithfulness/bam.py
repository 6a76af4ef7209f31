"""BAM (seed 004, "Benchmarking Attribution Methods with Relative Feature Importance") on a small data set
built here: scikit-learn's 8 x 8 digits (the *objects*) pasted on 16 x 16 texture crops cut from
scikit-image's bundled photos (the *scenes*, ``SCENES``: 10 classes).

Data (``build_bam``): a scene crop (a random 16 x 16 window of the photo downscaled 4 x, pixel values
scaled to [0, ``SCENE_MAX``]; train crops from the left 70 % of each photo, test crops from the right
30 %, so no test pixel was seen in training) and a digit pasted at one of the 9 positions aligned with the
4 x 4 grid of 4 x 4-pixel patches (t = 16; the digit covers exactly 4 patches, the object region c), as
``x = (1 - a) scene + a`` with alpha ``a`` = the digit's intensity (white ink). Every digit class appears
with every scene class. Each image comes in three versions: ``os`` (object on scene, X_{o,s}), ``0s``
(the same crop without the digit, X_{0,s}) and ``og`` (the digit on a uniform gray, X_{o,g}).

Models (``BamCNN16``, Adam, same seed): ``f_o`` trained on X_{o,s} with the digit labels, ``f_s`` on X_{o,s}
with the scene labels (the digit is a common feature, k = 1, to f_s), ``f_0`` on X_{0,s} with the scene
labels (the model of the input-independence test). ``importance_check`` verifies the relative
importance as the seed's Fig. 2 does (f_o falls to chance without the digit, f_s without the scene).

Metrics (seed 004, section 4), on per-patch scores: the saliency map ``e`` = the positive part of a
method's per-patch scores divided by its maximum (all zeros if no score is positive), ``g_c`` = the mean of
``e`` over the patches of region c (``region_attribution``).

- MCS = G_c(f_o, X_corr) - G_c(f_s, X_corr), c = the digit, X_corr = X_{o,s} test inputs both models
  classify correctly (higher = better); with the seed's random-region control (c = 4 random patches).
- IDR = share of pairs (x_{o,s}, x_{0,s}) classified correctly by f_s, and on which f_s is more confident
  of the scene without the digit (the seed's premise of section 3.4, checked per pair here), where g_c(f_s, x_{o,s}) <
  g_c(f_s, x_{0,s}) (the digit, a common feature, must get less than the scene pixels it covers; higher =
  better, random ~ 1/2).
- IIR = share of inputs x (X_{0,s}, correct under f_0) where |g_c(f_0, x + delta) - g_c(f_0, x)| < t g_c(f_0, x)
  (t = 0.1; unchanged attributions count as a pass), delta = a pasted digit optimised (``make_delta``) so that
  f_0(x + delta) ~ f_0(x) (all logits); pairs whose relative logit change exceeds ``max_change`` are dropped.

A trajectory's scores are its marginal contributions along its LeRF chain on the logit (``marginal_scores``;
TRACE: SA on (Le-Mo) of the logit, zero reference, the same reference as the baselines). Every input is
explained with the settings' ``seed``, the two members of a compared pair alike, except the ``random`` control
(independent draws per member and input, so its MCS is ~0 and its IDR ~1/2, the seed's random baselines). Per-input
records are kept in a ``RecordStore`` (one per test and input) so a rerun resumes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from skimage.color import rgb2gray
from skimage.transform import downscale_local_mean

from trace_opt.baselines import attribute, baselines_tagged
from trace_opt.comparison.evaluation import ci_half_width, count_forward_rows, method_label, paired
from trace_opt.core.features import grid_features
from trace_opt.core.fingerprint import arrays_digest
from trace_opt.core.io import RecordStore, atomic_write_json, check_output_dir
from trace_opt.core.validation import check_positive_int
from trace_opt.faithfulness.base import FaithfulnessTest, default_settings, register_test, settings_dict
from trace_opt.faithfulness.common import answer, baseline_input, method_seed, oracle, search, trace_method
from trace_opt.faithfulness.proportionality import marginal_scores
from trace_opt.models.architectures import BamCNN16
from trace_opt.models.data import _fit, _seeded_cpu, accuracy, load_digits_split

#: scikit-image images used as scene classes (textures where possible; colour converted to gray)
SCENES = (
    "brick",
    "grass",
    "gravel",
    "coins",
    "text",
    "page",
    "checkerboard",
    "binary_blobs",
    "hubble_deep_field",
    "immunohistochemistry",
)
SIZE, PATCH, DOWNSCALE, TRAIN_SHARE = 16, 4, 4, 0.7
SCENE_MAX, GRAY = 0.6, 0.3
POSITIONS = tuple((r, c) for r in (0, 4, 8) for c in (0, 4, 8))
#: the baselines run (``baselines_tagged``): the standard panel and the methods BAM's paper evaluated
BASELINES = ("standard", "bam-paper")


# --------------------------------------------------------------------------- metrics (pure numpy)
def saliency_map(scores) -> np.ndarray:
    """e: the positive part of per-feature ``scores`` over its maximum (zeros if none is positive)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError(f"scores must be a finite vector, one value per feature; got shape {s.shape}")
    p = np.clip(s, 0.0, None)
    top = p.max(initial=0.0)
    return p / top if top > 0 else p


def region_attribution(scores, region) -> float:
    """g_c: the mean of ``saliency_map(scores)`` over the feature indices ``region``."""
    region = np.asarray(region, dtype=np.int64)
    e = saliency_map(scores)
    if region.ndim != 1 or region.size == 0 or region.min() < 0 or region.max() >= e.size:
        raise ValueError(
            f"region must be a non-empty list of feature indices in 0..{e.size - 1}; got {region.tolist()}"
        )
    return float(e[region].mean())


def idr_indicator(g_cf, g_nocf) -> np.ndarray:
    """1 where the common feature gets less than the pixels it covers: g_c(x_cf) < g_c(x_not_cf)."""
    return (np.asarray(g_cf, dtype=np.float64) < np.asarray(g_nocf, dtype=np.float64)).astype(np.float64)


def iir_indicator(g_delta, g_plain, t: float = 0.1) -> np.ndarray:
    """1 where adding delta changes g_c by less than t g_c(x) (relative), or not at all."""
    a, b = np.asarray(g_delta, dtype=np.float64), np.asarray(g_plain, dtype=np.float64)
    diff = np.abs(a - b)
    return ((diff < t * b) | (diff == 0)).astype(np.float64)


def object_region(position, grid: int = SIZE // PATCH, patch: int = PATCH, extent: int = 8) -> np.ndarray:
    """Feature indices (row-major grid ids) covered by an ``extent`` x ``extent`` object at pixel ``position``."""
    r, c = (int(v) for v in position)
    if r % patch or c % patch or not (0 <= r <= grid * patch - extent and 0 <= c <= grid * patch - extent):
        raise ValueError(f"position must be a grid-aligned corner with the object inside the image; got {position}")
    k = extent // patch
    return np.array([(r // patch + i) * grid + c // patch + j for i in range(k) for j in range(k)], dtype=np.int64)


# --------------------------------------------------------------------------- data
def scene_bank() -> list:
    """The ``SCENES`` photos as float arrays in [0, SCENE_MAX], downscaled ``DOWNSCALE`` x (block means)."""
    out = []
    for name in SCENES:
        # binary_blobs is generated at random on every call: seed it, or the data set changes between runs
        im = np.asarray(
            skimage.data.binary_blobs(rng=0) if name == "binary_blobs" else getattr(skimage.data, name)(),
            dtype=np.float64,
        )
        if im.ndim == 3:
            im = rgb2gray(im[..., :3] / 255.0)
        elif im.max() > 1:
            im = im / 255.0
        im = downscale_local_mean(im, (DOWNSCALE, DOWNSCALE))
        im = (im - im.min()) / max(im.max() - im.min(), 1e-12)
        out.append(im * SCENE_MAX)
    return out


def build_bam(digits: torch.Tensor, labels: torch.Tensor, n: int, split: str, seed: int, bank=None) -> dict:
    """``n`` images (see the module docstring): tensors ``os``, ``0s``, ``og`` (n, 1, 16, 16), ``y_obj``,
    ``y_scene``, ``pos`` (n, 2) pixel corners; digit i % len(digits) (so every digit is used), scene class
    and position drawn from ``seed``."""
    n = check_positive_int("n", n)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    bank = scene_bank() if bank is None else bank
    rng = np.random.default_rng(seed)
    d = digits.reshape(len(digits), 8, 8).numpy().astype(np.float64)
    xs, x0, xg = (np.empty((n, SIZE, SIZE)) for _ in range(3))
    ys, pos = np.empty(n, dtype=np.int64), np.empty((n, 2), dtype=np.int64)
    yo = labels.numpy()[np.arange(n) % len(d)].astype(np.int64)
    for i in range(n):
        s = int(rng.integers(len(bank)))
        im = bank[s]
        h, w = im.shape
        cut = min(int(TRAIN_SHARE * w), w - SIZE)
        lo, hi = (0, cut - SIZE) if split == "train" else (cut, w - SIZE)
        r0, c0 = int(rng.integers(0, h - SIZE + 1)), int(rng.integers(lo, hi + 1))
        scene = im[r0 : r0 + SIZE, c0 : c0 + SIZE]
        r, c = POSITIONS[int(rng.integers(len(POSITIONS)))]
        a = d[i % len(d)]
        x0[i] = scene
        xs[i] = scene
        xs[i, r : r + 8, c : c + 8] = (1 - a) * scene[r : r + 8, c : c + 8] + a
        xg[i] = GRAY
        xg[i, r : r + 8, c : c + 8] = (1 - a) * GRAY + a
        ys[i], pos[i] = s, (r, c)
    t = lambda v: torch.as_tensor(v, dtype=torch.float32).unsqueeze(1)  # noqa: E731
    return {
        "os": t(xs),
        "0s": t(x0),
        "og": t(xg),
        "y_obj": torch.as_tensor(yo),
        "y_scene": torch.as_tensor(ys),
        "pos": pos,
    }


def train_model(X: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 10):
    """A ``BamCNN16`` trained with Adam (lr 3e-3, batch 64) on one thread; eval mode."""
    with _seeded_cpu(seed):
        model = BamCNN16()
        _fit(model, X, y, seed=seed, epochs=epochs, batch_size=64, lr=3e-3, weight_decay=0.0)
    return model.eval()


def importance_check(models: dict, test: dict) -> dict:
    """The seed's Fig. 2 on this data: accuracies of f_o and f_s with the object or the scene removed, and
    the share of f_s's correct X_{o,s} inputs whose scene probability rises when the digit is removed."""
    fo, fs = models["f_o"], models["f_s"]
    res = {
        "f_o": {k: accuracy(fo, test[k], test["y_obj"]) for k in ("os", "og", "0s")},
        "f_s": {k: accuracy(fs, test[k], test["y_scene"]) for k in ("os", "0s", "og")},
    }
    if "f_0" in models:
        res["f_0"] = {k: accuracy(models["f_0"], test[k], test["y_scene"]) for k in ("0s", "os")}
    with torch.inference_mode():
        p_os = fs(test["os"]).softmax(1)
        p_0s = fs(test["0s"]).softmax(1)
    y = test["y_scene"]
    ok = p_os.argmax(1) == y
    gain = (p_0s[torch.arange(len(y)), y] > p_os[torch.arange(len(y)), y]) & ok
    res["f_s_confidence_up_without_object"] = float(gain.sum()) / max(1, int(ok.sum()))
    return res


def make_delta(
    model,
    X: torch.Tensor,
    digits: torch.Tensor,
    positions,
    *,
    steps: int = 300,
    lr: float = 0.05,
    penalty: float = 0.05,
) -> dict:
    """Functionally null deltas (seed 004, section 4.4): a digit pasted in each x's object region, then
    adjusted inside that region only (``u``, Adam) to keep all logits of ``model``:
    minimise ||f(x + delta) - f(x)||_2 + ``penalty`` ||u||^2 (the penalty keeps delta near the digit),
    x + delta clipped to [0, 1]. Returns ``xd`` and per input the relative logit change
    ||f(x + delta) - f(x)|| / ||f(x)|| and ||delta||_2."""
    mask = torch.zeros_like(X)
    d0 = torch.zeros_like(X)
    for i, (r, c) in enumerate(positions):
        mask[i, 0, r : r + 8, c : c + 8] = 1.0
        a = digits[i].reshape(8, 8)
        d0[i, 0, r : r + 8, c : c + 8] = (1 - a) * X[i, 0, r : r + 8, c : c + 8] + a - X[i, 0, r : r + 8, c : c + 8]
    u = torch.zeros_like(X, requires_grad=True)
    opt = torch.optim.Adam([u], lr=lr)
    with torch.no_grad():
        ref = model(X)
    params = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            opt.zero_grad()
            xd = (X + (d0 + u) * mask).clamp(0.0, 1.0)
            loss = (model(xd) - ref).norm(dim=1).sum() + penalty * (u**2).sum()
            loss.backward()
            opt.step()
    finally:
        for p, g in zip(model.parameters(), params):
            p.requires_grad_(g)
    with torch.no_grad():
        xd = (X + (d0 + u) * mask).clamp(0.0, 1.0)
        change = (model(xd) - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-12)
        size = (xd - X).flatten(1).norm(dim=1)
    return {
        "xd": xd.detach(),
        "change": change.numpy().astype(np.float64),
        "delta_norm": size.numpy().astype(np.float64),
    }


# --------------------------------------------------------------------------- attributions
def method_scores(method: str, model, x, target: int, features, seed: int, sa_iterations: int, settings=None) -> tuple:
    """Per-feature scores of one method on one input and the forward passes it took. ``settings``: the
    ``ExplainSettings`` (default: the tests' defaults); ``seed`` replaces its seed."""
    settings = (default_settings() if settings is None else settings).replace(seed=int(seed))
    if method.startswith("trace-"):
        if method != trace_method("logit", settings):
            raise ValueError(f"method: only {trace_method('logit', settings)!r} is wired into BAM; got {method!r}")
        orc = oracle(settings, model, x, target, features, "logit")
        res = search(settings, orc, sa_iterations)
        return marginal_scores(res.trajectory, orc, "lerf"), int(orc.forward_passes)
    inp = baseline_input(settings, model, x, target, features)
    with count_forward_rows(model) as rows:
        att = attribute(method, model, x, target, features, inp=inp)
    return att.scores, int(rows.count)


def _explain_all(model, x, target, features, methods, settings, sa_iterations, member: int = 0) -> dict:
    """Every method on one input; the two members of a compared pair use the same seed (so only the model or
    the input differs), except the random control, which draws independently per member (``member``) and input."""
    out = {}
    with torch.enable_grad():
        for m in methods:
            start = time.perf_counter()
            seed = method_seed(m, settings.seed + (100_003 * member if m == "random" else 0), x)
            s, p = method_scores(m, model, x, target, features, seed, sa_iterations, settings)
            out[m] = {
                "scores": np.asarray(s, dtype=np.float64).tolist(),
                "forward_passes": p,
                "seconds": time.perf_counter() - start,
            }
    return out


# --------------------------------------------------------------------------- the run
#: what the trained models depend on (their files are reused only for the same values)
_MODEL_KEYS = ("data_seed", "model_seed", "n_train", "epochs")
#: the values the committed models were trained with (files from before models.json was written)
_MODEL_DEFAULTS = {"data_seed": 0, "model_seed": 0, "n_train": 3000, "epochs": 15}


def _models(out: Path, train: dict, meta: dict) -> dict:
    """f_o, f_s and f_0 (``importance_check``'s names), trained here or loaded from ``out`` when they were
    trained with the same ``meta`` (data and model seeds, training size, epochs)."""
    specs = {"f_o": ("os", "y_obj"), "f_s": ("os", "y_scene"), "f_0": ("0s", "y_scene")}
    info = out / "models.json"
    saved = json.loads(info.read_text()) if info.exists() else _MODEL_DEFAULTS
    reuse = saved == meta
    models = {}
    for name, (xkey, ykey) in specs.items():
        path = out / f"{name}.pt"
        if reuse and path.exists():
            m = BamCNN16()
            m.load_state_dict(torch.load(path, weights_only=True))
            models[name] = m.eval()
            continue
        models[name] = train_model(train[xkey], train[ykey], seed=meta["model_seed"], epochs=meta["epochs"])
        torch.save(models[name].state_dict(), path)
    atomic_write_json(info, meta)
    for m in models.values():
        for p in m.parameters():
            p.requires_grad_(True)
    return models


def _bam_data(n_train: int, n_test: int, data_seed: int) -> dict:
    """The digits split (``data_seed``) and the BAM train and test images built from it."""
    Dtr, Dte, ytr, yte = load_digits_split(8, data_seed=data_seed)
    bank = scene_bank()
    return {
        "Dte": Dte,
        "train": build_bam(Dtr, ytr, n_train, "train", data_seed, bank),
        "test": build_bam(Dte, yte, n_test, "test", data_seed + 1, bank),
    }


def _qualifying(models: dict, test: dict, Dte, n: int) -> dict:
    """The test inputs each test may use: MCS (both models right), IDR (its premise holds per pair), IIR (f_0
    right; a functionally null delta per input, digits from the test digits in reverse order)."""
    with torch.inference_mode():
        pred = {k: m(test["os"]).argmax(1) for k, m in models.items()}
        pred0 = {k: m(test["0s"]).argmax(1) for k, m in models.items()}
        ys = test["y_scene"]
        rows = torch.arange(len(ys))
        up = models["f_s"](test["0s"]).softmax(1)[rows, ys] > models["f_s"](test["os"]).softmax(1)[rows, ys]
    both = ((pred["f_o"] == test["y_obj"]) & (pred["f_s"] == test["y_scene"])).nonzero().flatten().tolist()
    # IDR's premise per pair (seed 004, 3.4): f_s right on both, and more confident without the digit
    idr_ok = ((pred["f_s"] == ys) & (pred0["f_s"] == ys) & up).nonzero().flatten().tolist()
    iir_ok = (pred0["f_0"] == test["y_scene"]).nonzero().flatten().tolist()
    iir_idx = iir_ok[: 2 * n]
    dig = Dte.flip(0)[torch.as_tensor(iir_idx) % len(Dte)].reshape(len(iir_idx), 8, 8)
    delta = make_delta(models["f_0"], test["0s"][iir_idx], dig, [tuple(test["pos"][i]) for i in iir_idx])
    return {"mcs": both, "idr": idr_ok, "iir": iir_ok, "iir_idx": iir_idx, "delta": delta}


class _Cached:
    """The BAM records of one run: ``get(test, i, x, fn)`` returns the stored record of (test, input i) or
    computes ``fn()`` and stores it (``RecordStore``; the item key is a digest of the explained inputs)."""

    def __init__(self, store: RecordStore, progress: bool):
        self.store, self.progress = store, progress

    def get(self, test: str, i: int, inputs: dict, fn) -> dict:
        name, key = f"{test}_{i:04d}", arrays_digest(inputs)
        rec = self.store.get(name, key)
        if rec is None:
            t0 = time.perf_counter()
            rec = fn()
            rec.update(index=int(i), seconds=time.perf_counter() - t0)
            rec = self.store.put(name, key, rec)
            if self.progress:
                print(f"[bam] {test} {i}: {rec['seconds']:.1f} s", file=sys.stderr, flush=True)
        return rec


def _mcs_records(cache, models, test, q, feats, methods, settings, n, sa, rng) -> list:
    out = []
    for i in q["mcs"][:n]:
        x, region = test["os"][i], object_region(test["pos"][i])
        rand_region = np.sort(rng.choice(feats.t, len(region), replace=False))
        fo, fs = models["f_o"], models["f_s"]
        yo, ysc = int(test["y_obj"][i]), int(test["y_scene"][i])
        out.append(
            cache.get(
                "mcs",
                i,
                {"x": x},
                lambda: {
                    "region": region.tolist(),
                    "random_region": rand_region.tolist(),
                    "f_o": _explain_all(fo, x, yo, feats, methods, settings, sa),
                    "f_s": _explain_all(fs, x, ysc, feats, methods, settings, sa, 1),
                },
            )
        )
    return out


def _idr_records(cache, models, test, q, feats, methods, settings, n, sa) -> list:
    out = []
    for i in q["idr"][:n]:
        region, y = object_region(test["pos"][i]), int(test["y_scene"][i])
        fs, xs, x0 = models["f_s"], test["os"][i], test["0s"][i]
        out.append(
            cache.get(
                "idr",
                i,
                {"os": xs, "0s": x0},
                lambda: {
                    "region": region.tolist(),
                    "cf": _explain_all(fs, xs, y, feats, methods, settings, sa),
                    "no_cf": _explain_all(fs, x0, y, feats, methods, settings, sa, 1),
                },
            )
        )
    return out


def _iir_records(cache, models, test, q, feats, methods, settings, n, sa, max_change: float = 0.1) -> list:
    out, delta = [], q["delta"]
    for j, i in enumerate(q["iir_idx"]):
        if len(out) >= n:
            break
        if delta["change"][j] > max_change:
            continue
        region, y = object_region(test["pos"][i]), int(test["y_scene"][i])
        f0, xd, x0 = models["f_0"], delta["xd"][j], test["0s"][i]
        out.append(
            cache.get(
                "iir",
                i,
                {"xd": xd, "0s": x0},
                lambda: {
                    "region": region.tolist(),
                    "change": float(delta["change"][j]),
                    "delta_norm": float(delta["delta_norm"][j]),
                    "delta": _explain_all(f0, xd, y, feats, methods, settings, sa),
                    "plain": _explain_all(f0, x0, y, feats, methods, settings, sa, 1),
                },
            )
        )
    return out


def run_bam(
    out,
    *,
    settings=None,
    n: int = 50,
    n_train: int = 3000,
    n_test: int = 600,
    epochs: int = 15,
    methods=None,
    sa_iterations: int = 500,
    data_seed: int = 0,
    model_seed: int = 0,
    progress: bool = True,
) -> dict:
    """The three BAM tests on ``n`` inputs each (fewer if fewer qualify); records under ``out/cache``; returns
    and writes ``out/bam.json`` (``summarise_bam``). ``settings.seed``: the searches and the random baselines
    (every input with that seed; the random control per member and input) and the control regions;
    ``data_seed``: the digits split and the images built from it; ``model_seed``: the three models' training."""
    settings = default_settings() if settings is None else settings
    out = check_output_dir("out", out, create=True)
    torch.set_num_threads(settings.threads or 1)
    data = _bam_data(n_train, n_test, data_seed)
    test = data["test"]
    start = time.perf_counter()
    meta = {"data_seed": data_seed, "model_seed": model_seed, "n_train": n_train, "epochs": epochs}
    models = _models(out, data["train"], meta)
    check = importance_check(models, test)
    check["train_seconds_total_this_run"] = time.perf_counter() - start
    feats = grid_features((SIZE, SIZE), SIZE // PATCH)
    if methods is None:
        methods = [*baselines_tagged(*BASELINES, model=models["f_o"]), trace_method("logit", settings)]
    key = {"test": "bam", "explain": settings_dict(settings), "methods": list(methods), "sa": sa_iterations}
    cache = _Cached(RecordStore(out / "cache", {**key, **meta, "n_test": n_test}), progress)
    q = _qualifying(models, test, data["Dte"], n)
    rng = np.random.default_rng(settings.seed + 7)
    recs = {
        "mcs": _mcs_records(cache, models, test, q, feats, methods, settings, n, sa_iterations, rng),
        "idr": _idr_records(cache, models, test, q, feats, methods, settings, n, sa_iterations),
        "iir": _iir_records(cache, models, test, q, feats, methods, settings, n, sa_iterations),
    }
    res = summarise_bam(recs, trace_method("logit", settings))
    delta = q["delta"]
    res.update(check=check, n_train=n_train, n_test=n_test, epochs=epochs, sa_iterations=sa_iterations)
    res["qualifying"] = {
        "mcs": len(q["mcs"]),
        "idr": len(q["idr"]),
        "iir_delta_tried": len(q["iir_idx"]),
        "iir_delta_kept": int((delta["change"] <= 0.1).sum()),
        "iir_change_median": float(np.median(delta["change"])) if len(q["iir_idx"]) else float("nan"),
        "iir_delta_norm_median": float(np.median(delta["delta_norm"])) if len(q["iir_idx"]) else float("nan"),
    }
    atomic_write_json(out / "bam.json", res)
    return res


@register_test("bam")
class Bam(FaithfulnessTest):
    """Part 4: BAM's MCS, IDR and IIR on digits pasted on textures (three small CNNs trained here)."""

    title = "BAM (seed 004) on digits pasted on textures"
    folder = "bam"
    defaults = {
        "n": 50,
        "sa_iterations": 500,
        "n_train": 3000,
        "n_test": 600,
        "epochs": 15,
        "data_seed": 0,
        "model_seed": 0,
    }
    baselines = BASELINES

    def run(self, out: Path, progress: bool = True) -> None:
        run_bam(Path(out) / self.folder, settings=self.settings, progress=progress, **self.options)

    def load(self, out: Path):
        path = Path(out) / self.folder / "bam.json"
        if not path.exists():
            return None
        cached = [json.loads(p.read_text()) for p in sorted((Path(out) / self.folder / "cache").glob("*.json"))]
        return {"result": json.loads(path.read_text()), "seconds": sum(r.get("seconds", 0.0) for r in cached)}

    def summarise(self, records) -> dict:
        return {**records["result"], "seconds_total": records["seconds"]}

    def markdown(self, summary: dict) -> str:
        return bam_markdown(summary)

    def answers(self, summary: dict, records) -> list[str]:
        trace = trace_method("logit", self.settings)
        lines = []
        for test, label in (
            ("mcs", "Part 4, BAM MCS (higher = better)"),
            ("idr", "Part 4, BAM IDR (higher = better)"),
            ("iir", "Part 4, BAM IIR (higher = better)"),
        ):
            blk = summary["tests"].get(test)
            if blk and blk["methods"]:
                means = {m: v["mean"] for m, v in blk["methods"].items()}
                lines.append(answer(label, means, blk["paired"], True, trace))
        return lines

    def costs(self, summary: dict, records) -> list[str]:
        return [
            f"- Part 4: n = {summary['n']['mcs']} (MCS), {summary['n']['idr']} (IDR), {summary['n']['iir']} (IIR) "
            f"test inputs (each explained twice), {summary['seconds_total'] / 60:.1f} min of explanations plus "
            f"training three small CNNs ({summary['n_train']} images, {summary['epochs']} epochs each; TRACE: SA "
            f"K = {summary['sa_iterations']})."
        ]


# --------------------------------------------------------------------------- summary
def _mean_ci(v) -> dict:
    v = np.asarray(v, dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else float("nan"), "ci": ci_half_width(v), "n": int(v.size)}


def per_input_values(recs: dict, t: float = 0.1) -> dict:
    """Per test and method the per-input values whose mean is the metric: MCS differences
    g_c(f_o) - g_c(f_s) (``mcs``; ``mcs_random``: on the random region), IDR and IIR indicators."""
    out = {"mcs": {}, "mcs_random": {}, "idr": {}, "iir": {}}
    if recs.get("mcs"):
        for m in recs["mcs"][0]["f_o"]:
            out["mcs"][m] = np.array(
                [
                    region_attribution(r["f_o"][m]["scores"], r["region"])
                    - region_attribution(r["f_s"][m]["scores"], r["region"])
                    for r in recs["mcs"]
                ]
            )
            out["mcs_random"][m] = np.array(
                [
                    region_attribution(r["f_o"][m]["scores"], r["random_region"])
                    - region_attribution(r["f_s"][m]["scores"], r["random_region"])
                    for r in recs["mcs"]
                ]
            )
    if recs.get("idr"):
        for m in recs["idr"][0]["cf"]:
            out["idr"][m] = idr_indicator(
                [region_attribution(r["cf"][m]["scores"], r["region"]) for r in recs["idr"]],
                [region_attribution(r["no_cf"][m]["scores"], r["region"]) for r in recs["idr"]],
            )
    if recs.get("iir"):
        for m in recs["iir"][0]["delta"]:
            out["iir"][m] = iir_indicator(
                [region_attribution(r["delta"][m]["scores"], r["region"]) for r in recs["iir"]],
                [region_attribution(r["plain"][m]["scores"], r["region"]) for r in recs["iir"]],
                t,
            )
    return out


def summarise_bam(recs: dict, trace: str = "trace-y-le-mo", t: float = 0.1) -> dict:
    """Per test and method the mean with its 95 % Student-t half-width, TRACE minus each method paired per
    input (positive favours TRACE: every metric is higher = better) and the mean forward passes."""
    vals = per_input_values(recs, t)
    res = {"t": t, "n": {k: len(v) for k, v in recs.items()}, "tests": {}, "passes": {}, "seconds": {}}
    for test, per in vals.items():
        res["tests"][test] = {
            "methods": {m: _mean_ci(v) for m, v in per.items()},
            "paired": {m: paired(per[trace], v, True) for m, v in per.items() if m != trace and trace in per},
        }
    rows: dict = {}
    for test, rs in recs.items():
        for r in rs:
            for part in ("f_o", "f_s", "cf", "no_cf", "delta", "plain"):
                for m, v in r.get(part, {}).items():
                    rows.setdefault(m, []).append((v["forward_passes"], v["seconds"]))
    res["passes"] = {m: float(np.mean([p for p, _ in v])) for m, v in rows.items()}
    res["seconds"] = {m: float(np.mean([s for _, s in v])) for m, v in rows.items()}
    return res


def bam_markdown(res: dict) -> str:
    """The importance check, one table per test (mean ± 95 % half-width; TRACE's paired difference) and
    the cost per explanation."""
    c = res.get("check", {})
    lines = []
    if c:
        lines += [
            f"Relative importance (test set of {res['n_test']} images; the seed's Fig. 2): f_o (digit labels) accuracy "
            f"{c['f_o']['os']:.3f} on X_os, {c['f_o']['og']:.3f} on X_og (scene removed), {c['f_o']['0s']:.3f} on X_0s "
            f"(digit removed; chance 0.1). f_s (scene labels) {c['f_s']['os']:.3f} on X_os, "
            f"{c['f_s']['0s']:.3f} on X_0s, "
            f"{c['f_s']['og']:.3f} on X_og. f_0 (scene labels, trained without digits) "
            f"{c.get('f_0', {}).get('0s', float('nan')):.3f} on X_0s. Share of f_s's correct X_os inputs whose scene "
            f"probability rises when the digit is removed: {c['f_s_confidence_up_without_object']:.3f}.",
            "",
        ]
        if c["f_s"]["0s"] < c["f_s"]["os"]:
            lines += [
                "Unlike the seed's Fig. 2 (where f_s gained accuracy without the object and 86.7 % of its inputs "
                "gained confidence), f_s is *less* accurate without the digit here: the digit is not a clean "
                "common feature to "
                "f_s (a model that always saw a digit meets a distribution shift when it is removed). MCS's premise "
                "(the digit matters more to f_o than to f_s) holds clearly (f_o falls to chance without it, f_s keeps "
                "most of its accuracy); IDR's premise does not hold on average, so IDR is computed only on the pairs "
                "where it holds per pair (f_s more confident of the true scene without the digit).",
                "",
            ]
    q = res.get("qualifying", {})
    if q:
        lines += [
            f"Inputs: MCS on {res['n']['mcs']} of the {q['mcs']} X_os test images both models classify correctly; "
            f"IDR on {res['n']['idr']} of {q['idr']} pairs f_s classifies correctly with and "
            f"without the digit and is more confident of without it; IIR on {res['n']['iir']} inputs whose "
            "optimised delta kept the logits within 10 % "
            f"({q['iir_delta_kept']} of {q['iir_delta_tried']} tried; median relative logit change "
            f"{q['iir_change_median']:.3f}, median ||delta||_2 {q['iir_delta_norm_median']:.2f}). TRACE: SA "
            f"K = {res['sa_iterations']} on (Le-Mo) of the logit.",
            "",
        ]
    names = {
        "mcs": "MCS (object region; higher = better)",
        "mcs_random": "MCS on 4 random patches (control: a method's contrast away from the object; "
        "the object's MCS should exceed it)",
        "idr": "IDR (higher = better; random ~ 0.5)",
        "iir": f"IIR, t = {res['t']:.0%} (higher = better)",
    }
    for test, label in names.items():
        block = res["tests"].get(test)
        if not block or not block["methods"]:
            continue
        lines += [
            f"#### {label}",
            "",
            "| method | mean ± 95 % | paired TRACE - method (positive favours TRACE) | TRACE better / worse / tied |",
            "|---|---:|---:|---|",
        ]
        for m, v in sorted(block["methods"].items(), key=lambda kv: -kv[1]["mean"]):
            p = block["paired"].get(m)
            cell = (
                f"{p['mean']:+.3f} ± {p['ci']:.3f}" + (" (separated)" if p["separated"] else "")
                if p
                else "(TRACE itself)"
            )
            wl = f"{p['wins']} / {p['losses']} / {p['ties']}" if p else ""
            lines.append(f"| {method_label(m)} | {v['mean']:.3f} ± {v['ci']:.3f} (n = {v['n']}) | {cell} | {wl} |")
        lines.append("")
    lines += [
        f"Scenes: {', '.join(SCENES)} (scikit-image's bundled images, downscaled {DOWNSCALE} x; crops of 16 x 16). "
        "Saliency map e = positive part of the per-patch scores over their maximum; g_c = mean of e over the 4 "
        "patches of the digit. Cost per explanation (mean over all explained inputs): "
        + ", ".join(
            f"{method_label(m)} {res['passes'][m]:,.0f} passes / {res['seconds'][m]:.2f} s" for m in res["passes"]
        )
        + "."
    ]
    return "\n".join(lines)


__all__ = [
    "SCENES",
    "BASELINES",
    "Bam",
    "saliency_map",
    "region_attribution",
    "idr_indicator",
    "iir_indicator",
    "object_region",
    "scene_bank",
    "build_bam",
    "train_model",
    "importance_check",
    "make_delta",
    "method_scores",
    "run_bam",
    "per_input_values",
    "summarise_bam",
    "bam_markdown",
]
