"""Real data splits and the small trained models: shapes, determinism, accuracy, the weight cache."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from trace_opt.models import data
from trace_opt.models.architectures import DigitsCNN8, DigitsCNN28, TabularMLP
from trace_opt.models.data import breast_cancer_mlp, digits_cnn, load_breast_cancer_split, load_digits_split

SAMPLE = Path(__file__).resolve().parents[1] / "instances" / "sample"


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def cnn8(model_cache_dir):
    return digits_cnn(8, model_seed=0, cache_dir=model_cache_dir)


@pytest.fixture(scope="module")
def mlp(model_cache_dir):
    return breast_cancer_mlp(model_seed=0, cache_dir=model_cache_dir)


# ----------------------------------------------------------------------------------- splits
def test_digits_split_8x8_shapes_values_and_stratification():
    X_tr, X_te, y_tr, y_te = load_digits_split(8, data_seed=0)
    raw = load_digits()
    assert X_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert X_tr.shape[1:] == (1, 8, 8) and X_te.shape[1:] == (1, 8, 8)
    assert len(X_tr) + len(X_te) == len(raw.images) == 1797 and len(y_tr) == len(X_tr) and len(y_te) == len(X_te)
    assert abs(len(X_te) / 1797 - 0.25) < 0.01
    assert 0.0 <= float(X_tr.min()) and float(X_tr.max()) <= 1.0
    # pixel values are the raw 0..16 intensities divided by 16
    assert torch.equal(X_te * 16, torch.round(X_te * 16))

    # train and test together are exactly the data set (as a multiset of (image, label) rows)
    def rows(X, y):
        return sorted(
            map(
                tuple,
                np.concatenate(
                    [
                        X.reshape(len(X), -1).numpy() * 16,
                        y.numpy()[:, None],
                    ],
                    axis=1,
                )
                .round()
                .astype(int),
            )
        )

    ours = rows(torch.cat([X_tr, X_te]), torch.cat([y_tr, y_te]))
    theirs = rows(torch.as_tensor(raw.images / 16.0), torch.as_tensor(raw.target))
    assert ours == theirs
    # stratified: each class's share of the test split is within one image of its overall share
    counts_all = np.bincount(raw.target, minlength=10)
    counts_te = np.bincount(y_te.numpy(), minlength=10)
    assert np.all(np.abs(counts_te - counts_all * len(y_te) / 1797) <= 1.0)


def test_digits_split_deterministic_and_seeded():
    a, b = load_digits_split(8, data_seed=3), load_digits_split(8, data_seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    c = load_digits_split(8, data_seed=4)
    assert not torch.equal(a[3], c[3])


def test_digits_28_is_the_same_split_upsampled_bilinearly():
    X8_tr, X8_te, y8_tr, y8_te = load_digits_split(8, data_seed=1)
    X_tr, X_te, y_tr, y_te = load_digits_split(28, data_seed=1)
    assert X_tr.shape[1:] == (1, 28, 28) and X_tr.dtype == torch.float32
    assert torch.equal(y_tr, y8_tr) and torch.equal(y_te, y8_te)
    assert 0.0 <= float(X_te.min()) and float(X_te.max()) <= 1.0
    # image i of the 28x28 test split is the bilinear upsampling of image i of the 8x8 test split
    ref = torch.nn.functional.interpolate(X8_te, size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.allclose(X_te, ref.clamp(0, 1))
    assert not torch.allclose(X_te[1:], ref[:-1].clamp(0, 1))  # and not some other pairing


def test_breast_cancer_split_standardised_with_train_statistics():
    X_tr, X_te, y_tr, y_te, names = load_breast_cancer_split(data_seed=0)
    raw = load_breast_cancer()
    assert X_tr.shape == (len(y_tr), 30) and X_te.shape == (len(y_te), 30)
    assert len(y_tr) + len(y_te) == 569 and X_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert names == list(raw.feature_names) and len(names) == 30
    assert torch.allclose(X_tr.double().mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(X_tr.double().std(0, unbiased=False), torch.ones(30, dtype=torch.float64), atol=1e-4)
    # the test split is standardised with the train statistics, so its mean is not exactly 0
    assert float(X_te.double().mean(0).abs().max()) > 1e-3
    again = load_breast_cancer_split(data_seed=0)
    assert all(torch.equal(u, v) for u, v in zip((X_tr, X_te, y_tr, y_te), again[:4]))


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: load_digits_split(size=10), "size"),
        (lambda: load_digits_split(size=True), "size"),
        (lambda: load_digits_split(size="8"), "size"),
        (lambda: load_digits_split(data_seed=-1), "data_seed"),
        (lambda: load_digits_split(data_seed=1.5), "data_seed"),
        (lambda: load_breast_cancer_split(data_seed="0"), "data_seed"),
        (lambda: digits_cnn(size=16), "size"),
        (lambda: digits_cnn(model_seed=-2), "model_seed"),
        (lambda: digits_cnn(cache_dir=3, weights="train"), "cache_dir"),
        (lambda: digits_cnn(weights="latest"), "weights"),
        (lambda: digits_cnn(model_seed=1, weights="shipped"), "weights='shipped'"),
        (lambda: breast_cancer_mlp(model_seed=None), "model_seed"),
        (lambda: data.load_inputs("imagenet-photos", data_seed=1), "--data-seed 1"),
        (lambda: data.load_model("efficientnet-lite0", model_seed=2), "--model-seed 2"),
        (lambda: data.load_inputs("digits8-test", data_seed=-1), "data_seed"),
    ],
)
def test_arguments_are_validated(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_seed_means_the_search_only():
    """Issue 29: the data split and the weights are data_seed and model_seed; a ``seed`` keyword is refused by
    every data and model function (it names the search's seed, ExplainSettings.seed, only)."""
    for fn in (load_digits_split, load_breast_cancer_split, digits_cnn, breast_cancer_mlp):
        with pytest.raises(TypeError, match="seed"):
            fn(seed=0)
    # the bundled inputs of a command line follow data_seed: digits8-test is the test split of that seed
    assert torch.equal(data.load_inputs("digits8-test", data_seed=3), load_digits_split(8, data_seed=3)[1])
    assert not torch.equal(data.load_inputs("digits8-test", data_seed=3), data.load_inputs("digits8-test"))


# ----------------------------------------------------------------------------------- models
def test_architectures_output_shapes():
    assert DigitsCNN8()(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert DigitsCNN28()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert TabularMLP(30)(torch.zeros(4, 30)).shape == (4, 2)
    with pytest.raises(ValueError, match="n_classes"):
        DigitsCNN8(n_classes=1)
    with pytest.raises(ValueError, match="n_features"):
        TabularMLP(0)


def test_cnn8_accuracy_and_eval_mode(cnn8):
    _, X_te, _, y_te = load_digits_split(8, data_seed=0)
    assert not cnn8.training
    acc = data.accuracy(cnn8, X_te, y_te)
    assert acc == cnn8.test_accuracy
    assert acc > 0.95  # measured 0.984 for seed 0


def test_mlp_accuracy(mlp):
    _, X_te, _, y_te, _ = load_breast_cancer_split(data_seed=0)
    assert not mlp.training
    assert data.accuracy(mlp, X_te, y_te) == mlp.test_accuracy > 0.92  # measured 0.958


def test_cnn28_accuracy(tmp_path):
    model = digits_cnn(28, model_seed=0, cache_dir=tmp_path)
    assert isinstance(model, DigitsCNN28) and model.config["size"] == 28
    assert model.test_accuracy > 0.95  # measured 0.982
    assert model.weights_source == "shipped"


@pytest.mark.parametrize(
    "load",
    [
        lambda d: digits_cnn(8, model_seed=0, cache_dir=d),
        lambda d: digits_cnn(28, model_seed=0, cache_dir=d),
        lambda d: breast_cancer_mlp(model_seed=0, cache_dir=d),
    ],
)
def test_seed0_loads_the_shipped_weights_without_training(load, tmp_path, monkeypatch):
    """In an empty cache folder the seed-0 models load the shipped weights (no training: ``_fit`` is
    never called), with the fingerprint and accuracy recorded in the manifest, and write nothing."""
    from trace_opt.core.fingerprint import model_fingerprint

    monkeypatch.setattr(data, "_fit", lambda *a, **k: pytest.fail("trained instead of loading shipped weights"))
    model = load(tmp_path)
    entry = data.shipped_manifest()[model.cache_path.name]
    assert model.weights_source == "shipped" and model.loaded_from_cache
    assert model.cache_path.parent == data.SHIPPED_DIR
    assert model_fingerprint(model) == entry["fingerprint"]
    assert model.config == entry["config"]
    assert abs(model.test_accuracy - entry["test_accuracy"]) < 0.01  # argmax ties may flip on another CPU
    assert not list(tmp_path.iterdir())


def test_shipped_digits_cnn8_is_the_model_of_the_shipped_instances():
    """The committed instance sample was built from the shipped 8x8 CNN (same fingerprint)."""
    from trace_opt.core.fingerprint import model_fingerprint

    meta = json.loads(next(SAMPLE.glob("*.json")).read_text())
    assert meta["metadata"]["model_fingerprint"] == model_fingerprint(digits_cnn(8, model_seed=0))


def test_damaged_shipped_weights_are_an_error(tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "weights"
    shutil.copytree(data.SHIPPED_DIR, copy)
    monkeypatch.setattr(data, "SHIPPED_DIR", copy)
    blob = bytearray((copy / "tabular-mlp-seed0.pt").read_bytes())
    blob[-10] ^= 0xFF
    (copy / "tabular-mlp-seed0.pt").write_bytes(bytes(blob))
    with pytest.raises(RuntimeError, match="damaged"):
        breast_cancer_mlp(model_seed=0)


def test_training_on_request_warns_that_numbers_differ(tmp_path):
    with pytest.warns(UserWarning, match="differ from the shipped weights"):
        model = breast_cancer_mlp(model_seed=0, cache_dir=tmp_path, weights="train")
    assert model.weights_source == "trained" and model.cache_path.parent == tmp_path
    # a seed without shipped weights trains under "auto", silently
    other = breast_cancer_mlp(model_seed=1, cache_dir=tmp_path)
    assert other.weights_source == "trained"
    assert breast_cancer_mlp(model_seed=1, cache_dir=tmp_path).weights_source == "cache"


def test_second_call_loads_the_cached_file(tmp_path):
    trained = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path)
    path = trained.cache_path
    assert path.parent == tmp_path and path.exists() and "tabular-mlp" in path.name and "seed2" in path.name
    mtime = path.stat().st_mtime_ns
    again = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path)
    assert again.loaded_from_cache and again.weights_source == "cache" and again.cache_path == path
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    assert _same_state(again, trained) and again.test_accuracy == trained.test_accuracy
    # no temporary files are left behind by the atomic write
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cache_default_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "env-cache"))
    assert data.default_cache_dir() == tmp_path / "env-cache"
    model = breast_cancer_mlp(model_seed=3)
    assert model.cache_path.parent == tmp_path / "env-cache" and not model.loaded_from_cache


def test_training_is_deterministic_and_keyed_by_seed(tmp_path):
    first = breast_cancer_mlp(model_seed=4, cache_dir=tmp_path / "a")
    fresh = breast_cancer_mlp(model_seed=4, cache_dir=tmp_path / "b")  # trains again in an empty folder
    assert not fresh.loaded_from_cache
    assert _same_state(fresh, first)
    other = breast_cancer_mlp(model_seed=1, cache_dir=tmp_path)
    assert other.cache_path != fresh.cache_path and not other.loaded_from_cache
    assert not _same_state(other, fresh)


def test_training_leaves_the_global_rng_alone(tmp_path):
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    breast_cancer_mlp(model_seed=5, cache_dir=tmp_path)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_stale_or_corrupt_cache_file_is_never_loaded(tmp_path):
    mlp = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path / "reference")
    model = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path)
    path = model.cache_path
    # a file under the right name but with another configuration (e.g. from an older version)
    payload = torch.load(path, weights_only=True)
    payload["config"] = {**payload["config"], "epochs": 1}
    payload["state_dict"] = {k: torch.zeros_like(v) for k, v in payload["state_dict"].items()}
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="configuration differs"):
        again = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path)
    assert not again.loaded_from_cache and _same_state(again, mlp)
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="ignoring cached weights"):
        third = breast_cancer_mlp(model_seed=2, cache_dir=tmp_path)
    assert _same_state(third, mlp)
    assert breast_cancer_mlp(model_seed=2, cache_dir=tmp_path).loaded_from_cache  # rewritten, valid again


def test_cache_key_changes_with_every_training_setting():
    base = {"arch": "x", "seed": 0, "epochs": 3, "lr": 0.1}
    keys = {data._config_key(base)}
    for k, v in (("arch", "y"), ("seed", 1), ("epochs", 4), ("lr", 0.2)):
        keys.add(data._config_key({**base, k: v}))
    assert len(keys) == 5
    assert data._config_key(dict(reversed(list(base.items())))) == data._config_key(base)
