"""Model-based instance sources (trace_opt/benchmarks/model_sources.py) and `instances build` with them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trace_opt.benchmarks.instances import build_library, load_instance
from trace_opt.benchmarks.model_sources import (
    LogicDigitsCNN,
    apply_rule,
    load_logic_digits,
    model_source,
    voronoi_segments,
)


def test_voronoi_segments_are_seeded_irregular_and_cover_every_cell():
    a = voronoi_segments((8, 8), 16, segment_seed=3)
    assert a.shape == (8, 8) and sorted(np.unique(a)) == list(range(16))
    np.testing.assert_array_equal(a, voronoi_segments((8, 8), 16, segment_seed=3))
    assert not np.array_equal(a, voronoi_segments((8, 8), 16, segment_seed=4))
    assert len(set(np.bincount(a.ravel()))) > 1  # cells of different sizes, unlike a 4x4 grid
    with pytest.raises(ValueError, match="do not fit"):
        voronoi_segments((2, 2), 5)


def test_rules_truth_tables():
    bits = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    assert apply_rule(bits, "xor").tolist() == [0, 1, 0, 1]
    assert apply_rule(bits, "and").tolist() == [0, 0, 0, 1]
    assert apply_rule(bits, "or").tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="rule"):
        apply_rule(bits, "nand")


def test_logic_strips_are_real_digits_with_balanced_rule_labels():
    from trace_opt.models.data import load_digits_split

    X_tr, X_te, y_tr, y_te, d_tr, d_te = load_logic_digits(
        3, "and", data_seed=0, n_train=200, n_test=50, return_digits=True
    )
    assert X_tr.shape == (200, 1, 8, 24) and X_te.shape == (50, 1, 8, 24)
    assert y_tr.sum() == 100 and y_te.sum() == 25  # balanced although AND of 3 bits is true 1/8 of the time
    np.testing.assert_array_equal(y_te.numpy(), apply_rule(d_te >= 5, "and"))
    np.testing.assert_array_equal(y_tr.numpy(), apply_rule(d_tr >= 5, "and"))
    _, digits, _, labels = load_digits_split(8, data_seed=0)
    # every region of a test strip is one of the test digits, of the recorded class
    for j in range(3):
        region = X_te[:5, :, :, 8 * j : 8 * j + 8]
        for r, d in zip(region, d_te[:5, j]):
            match = (digits == r).flatten(1).all(dim=1)
            assert match.any() and set(labels[match].tolist()) == {int(d)}
    again = load_logic_digits(3, "and", data_seed=0, n_train=200, n_test=50)
    assert torch.equal(again[1], X_te)


def test_logic_cnn_reads_each_region_with_one_trunk():
    torch.manual_seed(0)
    m = LogicDigitsCNN(regions=3).eval()
    x = torch.rand(4, 1, 8, 24)
    with torch.no_grad():
        out = m(x)
        codes = torch.cat([m.trunk(x[..., 8 * j : 8 * j + 8]) for j in range(3)], dim=1)
        torch.testing.assert_close(out, m.head(codes))
    assert out.shape == (4, 2)


def test_build_tabular_mlp_library_equals_the_live_model(tmp_path):
    """A table built from the breast-cancer MLP over 1x6 column groups equals the model's outputs."""
    (path,) = build_library(tmp_path, grids=[(1, 6)], inputs=[2], model="breast-cancer-mlp", output="logit")
    inst = load_instance(path)
    assert inst.t == 6 and inst.name == "cancer_test0002_g1x6_logit_zeros"
    src = model_source("breast-cancer-mlp")
    x, target = src.X_test[2], inst.metadata["target"]
    groups = np.array_split(np.arange(30), 6)
    rng = np.random.default_rng(0)
    for key in [0, 63, *rng.integers(64, size=6).tolist()]:
        xm = x.clone()
        for i in range(6):
            if key >> i & 1:
                xm[groups[i]] = 0.0
        with torch.no_grad():
            want = float(src.model(xm.unsqueeze(0))[0, target])
        assert inst.values[key] == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert inst.metadata["difficulty"]["t"] == 6 and inst.metadata["input"]["dataset"] == "sklearn breast cancer"
    with pytest.raises(ValueError, match="1xT"):
        build_library(tmp_path / "bad", grids=[(2, 3)], model="breast-cancer-mlp")


def test_build_superpixels_records_the_segmentation(tmp_path):
    (path,) = build_library(
        tmp_path, grids=[(2, 3)], inputs=[1], features="superpixels", output="prob", reference="mean"
    )
    inst = load_instance(path)
    assert inst.name == "digits8_test0001_g2x3_sp_prob_mean" and inst.t == 6
    np.testing.assert_array_equal(inst.arrays["feature_ids"], voronoi_segments((8, 8), 6, segment_seed=1))
    assert inst.metadata["segmentation"]["kind"] == "voronoi" and inst.metadata["features"]["kind"] == "segmentation"


def test_cli_build_takes_model_options(tmp_path, capsys):
    from trace_opt.cli import main

    assert (
        main(
            [
                "instances",
                "build",
                "--out",
                str(tmp_path),
                "--model",
                "breast-cancer-mlp",
                "--grids",
                "1x5*2",
                "--output",
                "prob",
            ]
        )
        == 0
    )
    assert len(list(tmp_path.glob("cancer_test000[01]_g1x5_prob_zeros.json"))) == 2
    assert "R2" in capsys.readouterr().out


@pytest.mark.slow
def test_logic_digits_cnn_learns_a_three_way_parity(tmp_path):
    """Trained here (about a minute): well above chance on held-out strips; a second call loads the cache."""
    from trace_opt.benchmarks.model_sources import logic_digits_cnn

    m = logic_digits_cnn(3, "xor", model_seed=0, cache_dir=tmp_path)
    assert m.weights_source == "trained" and m.test_accuracy > 0.85
    again = logic_digits_cnn(3, "xor", model_seed=0, cache_dir=tmp_path)
    assert again.weights_source == "cache"
    for a, b in zip(m.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
