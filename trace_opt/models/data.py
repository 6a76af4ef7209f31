"""Real data that ships with scikit-learn, and small models trained on it in seconds (cached).

* ``load_digits_split(size=8|28, data_seed)``: handwritten digits as ``(N, 1, size, size)`` float32 in [0, 1]
  (28 = the 8 x 8 images upsampled bilinearly, for a 7 x 7 grid of 4 x 4 patches).
* ``digits_cnn(size, model_seed, cache_dir, weights)``: a small CNN trained on the train split.
* ``load_breast_cancer_split(data_seed)``: 30 standardised columns (train mean/std), float32.
* ``breast_cancer_mlp(model_seed, cache_dir, weights)``: an MLP 30 -> 2.

**Seeds.** ``data_seed`` picks a split (stratified, 75 % train / 25 % test); ``model_seed`` a model's weights
(their initialisation and mini-batch order) and the split it is trained on (``load_digits_split(size,
data_seed=model_seed)``), so its test split is the one of ``data_seed=model_seed``. Neither is the search's
``seed`` (``trace_opt.ExplainSettings``). A model's training configuration records its ``model_seed`` under
the key ``"seed"`` (the key of the shipped manifest and of every cache file, kept so that both still match).

**Where the weights come from.** Training is seeded and deterministic on one machine, but not
bit-identical across CPUs (AVX2 vs AVX-512 kernels, thread counts), so the package **ships** the
trained weights of every bundled model for ``model_seed=0`` (``trace_opt/weights/``, with sha256 checksums,
model fingerprints and the training configuration in ``manifest.json``): every committed number of
the repository was computed with them, and ``weights="auto"`` (the default) loads them without
training. Other model seeds, or ``weights="train"``, train on this machine: the weights are cached in
``cache_dir`` (default ``$TRACE_OPT_CACHE`` or ``./.cache/trace-trajectories``) under a file name keyed
by architecture, size, model seed and a hash of every training setting (the file also stores that
configuration and is only loaded if it matches). Locally trained weights give other numbers than the
shipped ones. ``python -m trace_opt.models.data --write-shipped`` retrains the shipped set (maintainers only).

Returned models are in eval mode and carry ``test_accuracy``, ``config``, ``weights_source``
(``"shipped"``, ``"cache"`` or ``"trained"``), ``cache_path`` (the file the weights came from or went
to) and ``loaded_from_cache`` attributes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from trace_opt.core.fingerprint import model_fingerprint
from trace_opt.core.io import atomic_write_bytes
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.models import imagenet, photos
from trace_opt.models.architectures import DigitsCNN8, DigitsCNN28, TabularMLP

DIGIT_SIZES = (8, 28)
WEIGHTS = ("auto", "shipped", "train")
#: folder of the shipped weights and their manifest (checksums, fingerprints, training configurations)
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_SEED = 0
TEST_FRACTION = 0.25
CACHE_ENV = "TRACE_OPT_CACHE"
#: bump when a model definition or the training loop changes, so old cache files are never reused
CACHE_VERSION = 2

_TRAINING = {
    "digits-cnn8": {"epochs": 30, "batch_size": 64, "lr": 3e-3, "weight_decay": 0.0},
    "digits-cnn28": {"epochs": 12, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.0},
    "tabular-mlp": {"epochs": 60, "batch_size": 32, "lr": 1e-3, "weight_decay": 1e-4},
}


# --------------------------------------------------------------------------- validation helpers
def _check_seed(name: str, seed) -> int:
    """``data_seed`` or ``model_seed``: an integer >= 0."""
    return check_positive_int(name, seed, minimum=0)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size={size!r} is not valid; expected one of {list(DIGIT_SIZES)}")
    return int(check_choice("size", int(size), DIGIT_SIZES))


def default_cache_dir() -> Path:
    """``$TRACE_OPT_CACHE`` if set, else ``./.cache/trace-trajectories`` (relative to the working dir)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(".cache") / "trace-trajectories"


def _cache_dir(cache_dir) -> Path:
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise ValueError(f"cache_dir={cache_dir!r} is not valid; expected None, a str or a path")
    return Path(cache_dir)


# --------------------------------------------------------------------------------------- data
def _split_indices(y: np.ndarray, data_seed: int):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    return train_test_split(idx, test_size=TEST_FRACTION, random_state=data_seed, stratify=y)


def load_digits_split(size: int = 8, data_seed: int = 0):
    """scikit-learn's 1,797 handwritten digits, split 75/25 (stratified, from ``data_seed``).

    Returns ``(X_train, X_test, y_train, y_test)``: X float32 tensors ``(N, 1, size, size)`` with pixel
    values in [0, 1] (the raw 0..16 intensities / 16), y int64 class tensors (0..9). ``size=28``
    upsamples each 8 x 8 image bilinearly (``align_corners=False``); the split is the same as for 8.
    """
    from sklearn.datasets import load_digits  # scikit-learn: imported on use (its own start-up, ~0.5 s)

    size, data_seed = _check_size(size), _check_seed("data_seed", data_seed)
    bunch = load_digits()
    X = torch.as_tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    if size != 8:
        X = torch.nn.functional.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
        X = X.clamp_(0.0, 1.0)
    tr, te = _split_indices(bunch.target, data_seed)
    tr, te = torch.as_tensor(tr), torch.as_tensor(te)
    return X[tr].contiguous(), X[te].contiguous(), y[tr].contiguous(), y[te].contiguous()


def load_breast_cancer_split(data_seed: int = 0):
    """scikit-learn's breast cancer table (569 rows, 30 columns, 2 classes), split 75/25 (stratified, from
    ``data_seed``).

    Columns are standardised with the train split's mean and standard deviation. Returns
    ``(X_train, X_test, y_train, y_test, feature_names)``: float32 / int64 tensors and a list of 30 names.
    """
    from sklearn.datasets import load_breast_cancer

    data_seed = _check_seed("data_seed", data_seed)
    bunch = load_breast_cancer()
    tr, te = _split_indices(bunch.target, data_seed)
    X = bunch.data.astype(np.float64)
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    X = (X - mean) / np.where(std > 0, std, 1.0)
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    tr, te = torch.as_tensor(tr), torch.as_tensor(te)
    return (
        X[tr].contiguous(),
        X[te].contiguous(),
        y[tr].contiguous(),
        y[te].contiguous(),
        [str(n) for n in bunch.feature_names],
    )


# ------------------------------------------------------------------------------------ training
@contextmanager
def _seeded_cpu(model_seed: int, threads: int = 1):
    """Seed torch's global RNG for weight initialisation without disturbing the caller's stream, and
    run on ``threads`` intra-op threads (restored afterwards). One thread: these models are tiny, the
    result does not depend on the caller's thread setting, and on a shared CPU torch's spinning worker
    threads made training 10-20x slower (measured: 5.5 s with 1 thread vs 107 s with 2 at load 7)."""
    previous = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed)
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def _fit(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    model_seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
) -> None:
    """Adam on the cross-entropy, mini-batches shuffled by a generator seeded from ``model_seed``."""
    gen = torch.Generator().manual_seed(model_seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    n = len(X)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()


def accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of rows of ``X`` whose argmax score equals ``y``."""
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            correct += int((model(X[start : start + batch_size]).argmax(dim=1) == y[start : start + batch_size]).sum())
    return correct / len(X)


def _config_key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _shipped_name(config: dict) -> str:
    return f"{config['arch']}-seed{config['seed']}.pt"  # the architecture names the input size


def shipped_manifest() -> dict:
    """The manifest of the shipped weights: ``{file name: {"sha256", "fingerprint", "config",
    "test_accuracy"}}`` (empty when the package ships none)."""
    path = SHIPPED_DIR / "manifest.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _load_shipped(config: dict, build):
    """The shipped model for ``config``, or None when none ships for it. A shipped file whose checksum,
    configuration or fingerprint differs from the manifest is an error (the install is damaged)."""
    name = _shipped_name(config)
    entry = shipped_manifest().get(name)
    if entry is None or entry["config"] != config:
        return None
    path = SHIPPED_DIR / name
    blob = path.read_bytes() if path.exists() else b""
    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
        raise RuntimeError(
            f"shipped weights {path} are missing or damaged (sha256 differs from "
            f"{SHIPPED_DIR / 'manifest.json'}); reinstall the package, or pass weights='train'"
        )
    payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    with _seeded_cpu(config["seed"]):
        model = build()
    model.load_state_dict(payload["state_dict"])
    if model_fingerprint(model) != entry["fingerprint"]:
        raise RuntimeError(
            f"shipped weights {path} do not load to the recorded fingerprint "
            f"{entry['fingerprint']}; reinstall the package, or pass weights='train'"
        )
    model.cache_path = path
    return model


def _check_weights(weights) -> str:
    return check_choice("weights", weights, WEIGHTS)


def cached_model(
    config: dict, build, data, cache_dir, weights: str = "auto", fit=None, stem: str | None = None
) -> torch.nn.Module:
    """The model for ``config``: shipped weights (``weights`` "auto" or "shipped"), else the cached
    locally trained weights, else train, save atomically and return it.

    ``build()`` makes the untrained model (seeded), ``data`` is ``(X_train, X_test, y_train, y_test)``,
    ``fit(model)`` trains it (default: ``_fit``, Adam on the cross-entropy with the config's settings),
    ``stem`` names the cache file (default ``{arch}-seed{seed}``; the file name adds a hash of the config).
    ``config["seed"]`` is the model seed.
    """
    X_train, X_test, y_train, y_test = data
    model_seed = config["seed"]
    directory = _cache_dir(cache_dir)  # validated before anything is loaded
    if weights in ("auto", "shipped"):
        model = _load_shipped(config, build)
        if model is not None:
            return _finish(model, config, X_test, y_test, source="shipped")
        if weights == "shipped":
            raise ValueError(
                f"weights='shipped': no shipped weights for {config['arch']} with model_seed={model_seed} (the "
                f"package ships model_seed={SHIPPED_SEED}); use weights='auto' or 'train' to train them here"
            )
    elif _shipped_name(config) in shipped_manifest():
        warnings.warn(
            f"weights='train': {config['arch']} is trained (or loaded from the cache) on this machine; "
            "training is not bit-identical across CPUs, so its numbers differ from the shipped weights "
            "and from the repository's committed results",
            stacklevel=3,
        )
    path = directory / f"{stem or config['arch'] + '-seed' + str(model_seed)}-{_config_key(config)}.pt"
    with _seeded_cpu(model_seed):
        model = build()
    loaded = False
    if path.exists():
        try:
            payload = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
            if payload.get("config") != config:
                raise ValueError("the file's configuration differs from the requested one")
            model.load_state_dict(payload["state_dict"])
            loaded = True
        except Exception as exc:  # corrupt or foreign file: retrain and overwrite it
            warnings.warn(f"ignoring cached weights {path} ({exc}); training again", stacklevel=3)
            with _seeded_cpu(model_seed):
                model = build()
    if not loaded:
        with _seeded_cpu(model_seed):
            if fit is None:
                _fit(
                    model,
                    X_train,
                    y_train,
                    model_seed=model_seed,
                    epochs=config["epochs"],
                    batch_size=config["batch_size"],
                    lr=config["lr"],
                    weight_decay=config["weight_decay"],
                )
            else:
                fit(model)
            model.eval()
            acc = accuracy(model, X_test, y_test)
        buf = io.BytesIO()
        torch.save({"config": config, "state_dict": model.state_dict(), "test_accuracy": acc}, buf)
        atomic_write_bytes(path, buf.getvalue())
    model.cache_path = path
    return _finish(model, config, X_test, y_test, source="cache" if loaded else "trained")


def _finish(model, config, X_test, y_test, source: str):
    model.eval()
    with _seeded_cpu(config["seed"]):
        model.test_accuracy = accuracy(model, X_test, y_test)
    model.config = dict(config)
    model.weights_source = source
    model.loaded_from_cache = source != "trained"
    return model


def digits_cnn(size: int = 8, model_seed: int = 0, cache_dir=None, weights: str = "auto") -> torch.nn.Module:
    """A small CNN (``models.DigitsCNN8`` or ``DigitsCNN28``) with weights from ``model_seed``, trained on
    ``load_digits_split(size, data_seed=model_seed)``.

    Returns the model in eval mode with ``test_accuracy`` (fraction correct on that test split) and
    ``weights_source``. ``weights``: ``"auto"`` (shipped weights for model_seed 0, else train once here and
    cache), ``"shipped"`` (only the shipped ones) or ``"train"`` (trained on this machine, cached).
    """
    size, weights = _check_size(size), _check_weights(weights)
    model_seed = _check_seed("model_seed", model_seed)
    cls = DigitsCNN8 if size == 8 else DigitsCNN28
    config = {
        "arch": cls.arch,
        "version": CACHE_VERSION,
        "size": size,
        "seed": model_seed,  # the key of the shipped manifest and the cache files
        "n_classes": 10,
        "width": 16,
        "test_fraction": TEST_FRACTION,
        **_TRAINING[cls.arch],
    }
    data = load_digits_split(size, data_seed=model_seed)
    return cached_model(config, lambda: cls(n_classes=10, width=16), data, cache_dir, weights)


def breast_cancer_mlp(model_seed: int = 0, cache_dir=None, weights: str = "auto") -> torch.nn.Module:
    """An MLP (``models.TabularMLP``, 30 -> 32 -> 32 -> 2) with weights from ``model_seed``, trained on
    ``load_breast_cancer_split(data_seed=model_seed)``.

    Returns the model in eval mode with ``test_accuracy``; ``weights`` as for ``digits_cnn``.
    """
    model_seed, weights = _check_seed("model_seed", model_seed), _check_weights(weights)
    X_train, X_test, y_train, y_test, _ = load_breast_cancer_split(data_seed=model_seed)
    config = {
        "arch": TabularMLP.arch,
        "version": CACHE_VERSION,
        "seed": model_seed,  # the key of the shipped manifest and the cache files
        "n_features": 30,
        "n_classes": 2,
        "hidden": 32,
        "test_fraction": TEST_FRACTION,
        **_TRAINING[TabularMLP.arch],
    }
    return cached_model(
        config, lambda: TabularMLP(30, n_classes=2, hidden=32), (X_train, X_test, y_train, y_test), cache_dir, weights
    )


#: bundled models by name: ``(build(model_seed), the name of its own test inputs)`` (``load_model_and_data``);
#: a model with pretrained weights takes model_seed 0 only
BUNDLED_MODELS = {
    "digits-cnn8": (lambda model_seed: digits_cnn(8, model_seed=model_seed), "digits8-test"),
    "digits-cnn28": (lambda model_seed: digits_cnn(28, model_seed=model_seed), "digits28-test"),
    "breast-cancer-mlp": (lambda model_seed: breast_cancer_mlp(model_seed=model_seed), "breast-cancer-test"),
    "efficientnet-lite0": (lambda model_seed: imagenet.efficientnet_lite0(), "imagenet-photos"),
}
#: bundled test inputs by name: ``load(data_seed)`` (the test split of that seed; imagenet-photos, the photos of
#: ``photos.IMAGENET_PHOTOS`` at 3 x 224 x 224, has no split and takes data_seed 0 only)
BUNDLED_INPUTS = {
    "digits8-test": lambda data_seed: load_digits_split(8, data_seed=data_seed)[1],
    "digits28-test": lambda data_seed: load_digits_split(28, data_seed=data_seed)[1],
    "breast-cancer-test": lambda data_seed: load_breast_cancer_split(data_seed=data_seed)[1],
    "imagenet-photos": lambda data_seed: photos.load_imagenet_photos(),
}
#: the bundled names without a split or without trained weights of their own (a seed other than 0 is refused)
_UNSEEDED = ("efficientnet-lite0", "imagenet-photos")


def _check_seed_of(name: str, flag: str, seed) -> int:
    """``seed`` (``data_seed`` / ``model_seed``) for the bundled ``name``: 0 for anything without a split or
    trained weights of its own (a file, the ImageNet model and photos)."""
    seed = _check_seed(flag.lstrip("-").replace("-", "_"), seed)
    bundled = name in BUNDLED_MODELS or name in BUNDLED_INPUTS
    if seed != 0 and (not bundled or name in _UNSEEDED):
        raise ValueError(
            f"{flag} {seed} is not valid with {name!r}: {flag} chooses a bundled digits or breast-cancer "
            f"{'split' if flag == '--data-seed' else 'model'}; {name!r} has none (leave {flag} at 0)"
        )
    return seed


def load_model_and_data(model_name: str, data_name: str | None, *, data_seed: int = 0, model_seed: int = 0):
    """The model and inputs named on a command line: a bundled model name (its weights from ``model_seed``) or a
    model file (TorchScript or ``torch.save``d module, put in eval mode), and a bundled test split (from
    ``data_seed``) or a ``.npy`` of inputs along axis 0 (default: the bundled model's own test split)."""
    if model_name not in BUNDLED_MODELS and Path(model_name).is_file() and data_name is None:
        raise ValueError(
            f"--model {model_name!r} is a model file: give --data (a .npy file of inputs along "
            f"axis 0, or one of {', '.join(BUNDLED_INPUTS)})"
        )
    model, default_data = load_model(model_name, model_seed=model_seed)
    data_name = data_name or default_data
    X = load_inputs(data_name, data_seed=data_seed)
    check_model_takes(model, X, f"--model {model_name!r}", f"--data {data_name!r}")
    return model, X


def load_model(model_name: str, *, model_seed: int = 0):
    """``(model, name of its bundled inputs or None)`` for a bundled model name (its weights from ``model_seed``)
    or a model file (TorchScript or a ``torch.save``d module, put in eval mode; a pickled module needs its class
    importable, TorchScript does not)."""
    builtin = BUNDLED_MODELS
    model_seed = _check_seed_of(model_name, "--model-seed", model_seed)
    if model_name in builtin:
        return builtin[model_name][0](model_seed), builtin[model_name][1]
    path = Path(model_name)
    if not path.is_file():
        raise ValueError(f"--model {model_name!r} is neither {sorted(builtin)} nor an existing file")
    try:
        if zipfile.is_zipfile(path) and any(n.split("/")[1:2] == ["code"] for n in zipfile.ZipFile(path).namelist()):
            model = torch.jit.load(str(path))  # a TorchScript archive (its code/ folder)
        else:
            model = torch.load(str(path), weights_only=False)  # a pickled module: only load files you trust
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign file: say which argument
        hint = ""
        if isinstance(exc, (AttributeError, ModuleNotFoundError, ImportError)):
            hint = (
                "; a module saved with torch.save(module) is a pickle that needs its class importable "
                "here (a class defined in your own script is not): save it as TorchScript instead, "
                "torch.jit.save(torch.jit.script(model), path) (or torch.jit.trace), which loads anywhere"
            )
        raise ValueError(
            f"--model {model_name!r} could not be loaded as a torch.save(module) or TorchScript "
            f"file: {type(exc).__name__}: {exc}{hint}"
        ) from None
    if isinstance(model, dict):
        raise ValueError(
            f"--model {model_name!r} holds a dict (a state_dict?), not a module; save the module "
            "itself (torch.save(model, path)) or a TorchScript file (torch.jit.save)"
        )
    if not isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule):
        raise ValueError(f"--model {model_name!r} holds a {type(model).__name__}, not a torch module")
    model.eval()
    return model, None


#: image files taken as ``--data`` (one file, or a folder of them)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_inputs(data_name: str, *, data_seed: int = 0):
    """The inputs named on a command line, along axis 0: a bundled test split (from ``data_seed``), a ``.npy``
    file, or image files (a PNG/JPEG file or a folder of them, sorted by name), each resized to 224 x 224 and
    normalised with the ImageNet mean/std (``trace_opt.models.photos``: what an ImageNet model expects)."""
    data_seed = _check_seed_of(str(data_name), "--data-seed", data_seed)
    path = Path(str(data_name)) if data_name is not None else None
    images = (
        []
        if path is None
        else (
            sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if path.is_dir()
            else [path]
            if path.suffix.lower() in IMAGE_SUFFIXES
            else []
        )
    )
    if path is not None and path.is_dir() and not images:
        raise ValueError(f"--data {data_name!r} is a folder without {'/'.join(IMAGE_SUFFIXES)} files")
    if images:
        return photos.load_imagenet_photos([str(p) for p in images])
    if data_name in BUNDLED_INPUTS:
        X = BUNDLED_INPUTS[data_name](data_seed)
    elif data_name is not None and Path(data_name).suffix == ".npy" and Path(data_name).is_file():
        try:
            arr = np.load(data_name, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - not a .npy array file
            raise ValueError(f"--data {data_name!r} could not be read as a .npy array: {exc}") from None
        if (
            arr.ndim < 2
            or len(arr) == 0
            or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)
            or np.iscomplexobj(arr)
        ):
            raise ValueError(
                f"--data {data_name!r} holds an array of shape {arr.shape} and dtype {arr.dtype}; "
                "expected real numbers with the inputs along axis 0 (at least 2 dims: N x ...)"
            )
        bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1).astype(np.float64)).all(axis=1))
        if bad.size:
            raise ValueError(
                f"--data {data_name!r}: input{'s' if bad.size > 1 else ''} "
                f"{', '.join(map(str, bad[:10]))}{' ...' if bad.size > 10 else ''} "
                f"({bad.size} of {len(arr)}) hold NaN or infinite values; remove or fix them"
            )
        X = torch.as_tensor(arr).float()
    else:
        raise ValueError(
            f"--data {data_name!r} is not valid; expected one of {', '.join(BUNDLED_INPUTS)}, an "
            "existing .npy file, or PNG/JPEG images (a file or a folder)"
        )
    return X


def check_model_takes(model, X, model_name: str = "model", data_name: str = "inputs") -> None:
    """One forward pass on the first input, before any work: a model that rejects the inputs' shape
    (or returns no (1, n_classes) scores) is a ValueError naming both, not a traceback at input 0."""
    x = X[:1]
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as exc:  # noqa: BLE001 - whatever the model raises: say which arguments disagree
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"{model_name} cannot take the inputs of {data_name} (each of shape "
            f"{tuple(X.shape[1:])}, sent as a batch of shape {tuple(x.shape)}): {type(exc).__name__}: "
            f"{first[:300]}; give inputs of the shape the model expects"
        ) from None
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.shape[0] != 1:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"{model_name} returned {shape} for a batch of one input of {data_name}; expected (batch, n_classes) scores"
        )


def write_shipped_weights(directory=None) -> dict:
    """Train every bundled model for ``model_seed=0`` on this machine and write its weights and the manifest
    into ``directory`` (default: the package's ``weights/`` folder). Every committed result of the
    repository depends on these files: regenerate them only with the reports, benches and instances."""
    directory = Path(directory) if directory is not None else SHIPPED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {}
    with _temporary_cache() as tmp:
        for model in (
            digits_cnn(8, model_seed=SHIPPED_SEED, cache_dir=tmp, weights="train"),
            digits_cnn(28, model_seed=SHIPPED_SEED, cache_dir=tmp, weights="train"),
            breast_cancer_mlp(model_seed=SHIPPED_SEED, cache_dir=tmp, weights="train"),
        ):
            buf = io.BytesIO()
            torch.save({"config": model.config, "state_dict": model.state_dict()}, buf)
            name = _shipped_name(model.config)
            atomic_write_bytes(directory / name, buf.getvalue())
            manifest[name] = {
                "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                "fingerprint": model_fingerprint(model),
                "config": model.config,
                "test_accuracy": model.test_accuracy,
                "torch": torch.__version__,
            }
    atomic_write_bytes(directory / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


@contextmanager
def _temporary_cache():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield tmp


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m trace_opt.models.data",
        description="Retrain the shipped weights of the bundled models (maintainers).",
    )
    parser.add_argument(
        "--write-shipped",
        action="store_true",
        help=f"train on this machine and overwrite {SHIPPED_DIR} (every committed result depends on these weights)",
    )
    parser.add_argument("--out", default=None, help="write to this folder instead of the package's weights/")
    ns = parser.parse_args()
    if not ns.write_shipped:
        parser.error("nothing to do: pass --write-shipped")
    for name, entry in write_shipped_weights(ns.out).items():
        print(f"{name}: fingerprint {entry['fingerprint']}, test accuracy {entry['test_accuracy']:.4f}")
