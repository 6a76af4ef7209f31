"""The ``explain`` command: one input (a bundled photo on the real ImageNet model, or a data set's row), the budget a
hard limit on the search's forward passes, explanation.json with the fields a user reads, and the three figures."""

from __future__ import annotations

import json

import pytest

from trace_opt.cli import main


def _run(tmp_path, *argv):
    out = tmp_path / "out"
    assert main(["explain", *argv, "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "explanation.json").read_text())
    for name in record["figures"].values():
        assert (out / name).stat().st_size > 1000
    return record


def test_explain_a_digit_within_its_budget(tmp_path):
    r = _run(
        tmp_path,
        "--model",
        "digits-cnn8",
        "--data",
        "digits8-test",
        "--index",
        "2",
        "--budget",
        "150",
        "--reference",
        "zeros",
    )
    assert 0 < r["solver"]["forward_passes"] <= 150 and r["t"] == 16 and sorted(r["trajectory"]) == list(range(16))
    assert r["target_name"] is None and len(r["curves"]["lerf_deletion"]) == 17
    assert r["settings"]["budget"] == 150 and r["value"] == pytest.approx(r["le_mo"])
    assert r["data_seed"] == 0 and r["model_seed"] == 0 and r["settings"]["seed"] == 0


def test_explain_takes_the_data_split_from_data_seed(tmp_path):
    """Issue 29: --data-seed picks the split whose test input is explained (--seed is the search's only)."""
    import torch

    from trace_opt import explain
    from trace_opt.models.data import digits_cnn, load_digits_split

    r = _run(tmp_path, "--model", "digits-cnn8", "--data-seed", "2", "--budget", "40", "--solver", "greedy")
    x = load_digits_split(8, data_seed=2)[1][0]
    assert r["data_seed"] == 2 and r["input"] == {"data": "digits8-test", "index": 0}
    assert not torch.equal(x, load_digits_split(8, data_seed=0)[1][0])
    # the command's defaults (paper_blur, batch 16) on that split's first test digit give the same explanation
    exp = explain(digits_cnn(8), x, reference="paper_blur", batch_size=16, solver="greedy", budget=40)
    assert r["trajectory"] == exp.trajectory.tolist() and r["score"] == exp.score


def test_explain_a_photo_on_the_imagenet_model(tmp_path):
    """chelsea on EfficientNet-Lite0: the predicted class is named (285, Egyptian cat), a 2 x 2 grid keeps it fast."""
    r = _run(tmp_path, "--image", "chelsea", "--features", "2", "--budget", "40", "--solver", "greedy")
    assert r["target"] == 285 and r["target_name"] == "Egyptian cat"
    assert r["solver"]["forward_passes"] <= 40 and r["t"] == 4 and r["input"]["image"] == "chelsea"
    # issue 32: the settings as used (the logit, not null), the heat per feature instead of every pixel, and
    # the file loads back; issue 29: the file is the Explanation's own record (one copy of each field)
    assert r["settings"]["output"] == "logit" and "heatmap" not in r and "explanation" not in r
    ranks = {f: k for k, f in enumerate(r["trajectory"])}
    assert r["heat_per_feature"] == pytest.approx([(ranks[f] + 1) / 4 for f in range(4)])
    from trace_opt import Explanation

    loaded = Explanation.load(tmp_path / "out" / "explanation.json")
    assert loaded.trajectory.tolist() == r["trajectory"] and loaded.value == pytest.approx(r["value"])
    assert loaded.to_dict() == r and loaded.target == 285 and loaded.curves.le_mo == pytest.approx(r["le_mo"])


def test_explain_superpixels_of_a_photo(tmp_path):
    r = _run(
        tmp_path,
        "--image",
        "coffee",
        "--superpixels",
        "slic",
        "--features",
        "2",
        "--budget",
        "20",
        "--solver",
        "greedy",
    )
    assert r["target"] == 967 and 2 <= r["t"] <= 8 and r["settings"]["features"]["t"] == r["t"]


def test_explain_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    out = tmp_path / "never"
    for argv, message in (
        (["--image", "no-such-photo"], "no-such-photo"),
        (["--solver", "nope"], "nope"),
        (["--data", "digits8-test", "--index", "99999"], "--index 99999"),
        (["--data", "digits8-test", "--superpixels", "slic"], "--superpixels needs --image"),
        (["--image", "chelsea", "--data-seed", "1"], "--data-seed 1"),
        (["--data", "digits8-test", "--model-seed", "-1"], "--model-seed"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["explain", "--model", "digits-cnn8", *argv, "--out", str(out), "--no-progress"])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_the_explain_command_on_a_tables_row(tmp_path, capsys):
    """A 1-D row: the paper's blur needs an image, so without --reference the row is deleted to zeros; its
    figure is the features as bars (no overlay), and the file loads back."""
    from trace_opt.explanation.single import Explanation

    args = ["explain", "--model", "breast-cancer-mlp", "--data", "breast-cancer-test", "--budget", "300"]
    assert main([*args, "--out", str(tmp_path), "--no-progress"]) == 0
    saved = json.loads((tmp_path / "explanation.json").read_text())
    assert saved["settings"]["reference"] == "zeros" and saved["figures"] == {
        "features": "features.png",
        "curves": "curves.png",
    }
    assert (tmp_path / "features.png").stat().st_size > 1000 and (tmp_path / "curves.png").exists()
    assert not (tmp_path / "overlay.png").exists()
    assert sorted(Explanation.load(tmp_path / "explanation.json").trajectory) == list(range(30))
    with pytest.raises(SystemExit) as exc:
        main([*args, "--reference", "paper_blur", "--out", str(tmp_path / "blur")])
    assert exc.value.code == 2 and "at least 2 dimensions" in capsys.readouterr().err
