"""Instances: file format, table oracle = live model, stored optima = DP = brute force, bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brute import all_orders, brute_force_table
from exact_models import ExactNet
from solvers import get_solver
from solvers.complete import exact_optimum
from trace_opt import ExplainSettings, ModelOracle, TraceProblem
from trace_opt.benchmarks.instances import (
    FORMAT_VERSION,
    TableOracle,
    build_instance,
    build_library,
    check_table_size,
    instance_from_table,
    leaderboard,
    leaderboard_table,
    load_instance,
    load_library,
    parse_solver_spec,
    save_instance,
    split_library,
    table_stats,
    write_leaderboard,
)
from trace_opt.core.budget import Limits
from trace_opt.core.fingerprint import model_fingerprint

SAMPLE = Path(__file__).resolve().parents[1] / "instances" / "sample"


class TinyCNN(torch.nn.Module):
    """A fixed random conv net on 1 x 6 x 6 inputs (double precision). Its values may still differ in
    the last bits between batch sizes and CPUs (convolution kernels), so tests compare it with a tolerance."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1).double()
        self.fc = torch.nn.Linear(4 * 36, 5).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def live():
    model = TinyCNN().eval()
    x = torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return model, x


@pytest.fixture(scope="module")
def tiny_instance(live):
    model, x = live
    return build_instance(model, x, 2, (3, 3), "zeros", "logit", name="tiny", metadata={"model": "TinyCNN"})


@pytest.fixture(scope="module")
def exact_live(live):
    return ExactNet().eval(), live[1]


@pytest.fixture(scope="module")
def exact_instance(exact_live):
    model, x = exact_live
    return build_instance(model, x, 2, (3, 3), "zeros", "logit", name="exact", metadata={"model": "ExactNet"})


def test_table_equals_live_model_values(live, tiny_instance, exact_live, exact_instance):
    """The table holds the live model's values: bit for bit on a batch-invariant model (the table is
    built in batches of 4,096, live calls come in batches of 64), to 1e-12 on a convolutional one."""
    keys = np.arange(1 << 9, dtype=np.uint64)
    model, x = exact_live
    np.testing.assert_array_equal(exact_instance.values, ModelOracle(model, x, 2, features=(3, 3)).evaluate_keys(keys))
    model, x = live
    np.testing.assert_allclose(
        tiny_instance.values, ModelOracle(model, x, 2, features=(3, 3)).evaluate_keys(keys), rtol=1e-12, atol=1e-12
    )
    assert tiny_instance.metadata["model"] == "TinyCNN" and tiny_instance.metadata["target"] == 2


@pytest.mark.parametrize(
    "solver,params", [("sa", {"iterations": 400, "init": "random"}), ("greedy", {}), ("sa", {"iterations": 300})]
)
def test_table_oracle_runs_like_the_live_model(exact_live, exact_instance, solver, params):
    """Same trajectory, score and counters (forward passes, cache hits, batches) as the live run, on a
    model whose values do not depend on the batch (``ExactNet``), so identity is the right claim."""
    model, x = exact_live
    for seed in (0, 1):
        for budget in (60, 500):
            live_p = TraceProblem(ModelOracle(model, x, 2, features=(3, 3)), "le-mo")
            tab_p = exact_instance.problem("le-mo")
            r1 = get_solver(solver, **params).solve(live_p, budget=budget, seed=seed)
            r2 = get_solver(solver, **params).solve(tab_p, budget=budget, seed=seed)
            np.testing.assert_array_equal(r1.trajectory, r2.trajectory)
            assert r1.score == r2.score
            assert (r1.forward_passes, r1.cache_hits, r1.iterations, r1.stopped) == (
                r2.forward_passes,
                r2.cache_hits,
                r2.iterations,
                r2.stopped,
            )
            assert {k: v for k, v in live_p.oracle.counters().items() if k != "forward_seconds"} == {
                k: v for k, v in tab_p.oracle.counters().items() if k != "forward_seconds"
            }


def test_sample_library_optima_equal_dp_and_brute_force():
    lib = load_library(SAMPLE, verify=True)  # verify: DP recomputed, compared with the stored optima
    assert len(lib) >= 3 and all(inst.t <= 12 for inst in lib)
    assert lib == sorted(lib, key=lambda i: i.name)
    small = [inst for inst in lib if inst.t <= 6]
    assert small, "the sample ships a t <= 6 instance for the brute-force check"
    for inst in lib:
        for objective in ("le", "mo", "le-mo"):
            sigma, opt = exact_optimum(inst.values, objective)
            assert inst.optimum(objective) == pytest.approx(opt, rel=1e-12, abs=1e-12)
            assert inst.score(inst.objectives[objective]["trajectory"], objective) == pytest.approx(opt, rel=1e-12)
            assert inst.normalised_gap(opt, objective) == 0.0
            if inst.t <= 6:
                assert opt == pytest.approx(brute_force_table(inst.values, objective).best, rel=1e-12, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_random_tables_optimum_and_gap(t, seed):
    values = np.random.default_rng(seed).normal(size=1 << t)
    inst = instance_from_table(values, "r")
    for objective in ("le", "mo", "le-mo"):
        opt = brute_force_table(values, objective).best
        assert inst.optimum(objective) == pytest.approx(opt, abs=1e-9)
        # random_mean is the exact mean score over all t! orders
        scores = [inst.score(p, objective) for p in all_orders(t)]
        assert inst.objectives[objective]["random_mean"] == pytest.approx(np.mean(scores), abs=1e-9)
        assert max(scores) == pytest.approx(opt, abs=1e-9)
        gaps = [inst.normalised_gap(s, objective) for s in scores]
        assert (
            min(gaps) == pytest.approx(0.0, abs=1e-9)
            and np.mean(gaps) == pytest.approx(1.0, abs=1e-9)
            or inst.objectives[objective]["optimum"] == pytest.approx(inst.objectives[objective]["random_mean"])
        )


def test_save_load_roundtrip(tmp_path, tiny_instance):
    path = save_instance(tiny_instance, tmp_path / "lib" / "tiny")
    assert path.name == "tiny.json" and (tmp_path / "lib" / "tiny.npz").exists()
    back = load_instance(tmp_path / "lib" / "tiny.npz", verify=True)
    np.testing.assert_array_equal(back.values, tiny_instance.values)
    np.testing.assert_array_equal(back.arrays["x"], tiny_instance.arrays["x"])
    assert back.metadata == json.loads(json.dumps(tiny_instance.metadata))
    assert back.objectives == json.loads(json.dumps(tiny_instance.objectives))
    side = json.loads(path.read_text())
    assert side["format_version"] == FORMAT_VERSION and side["t"] == 9


# ---------------------------------------------------------------------------------- bad input
@pytest.fixture()
def copied(tmp_path):
    src = sorted(SAMPLE.glob("*.json"))[0]
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(src.with_suffix(".npz"), tmp_path / src.with_suffix(".npz").name)
    return tmp_path / src.name


def test_truncated_npz_is_refused_naming_the_file(copied):
    npz = copied.with_suffix(".npz")
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=str(npz)):
        load_instance(copied)


def test_corrupt_npz_byte_is_refused_by_the_checksum(copied):
    import io
    import zipfile

    npz = copied.with_suffix(".npz")
    with np.load(npz) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["values"][3] += 1e-9  # a valid npz with one changed value
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    npz.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(npz)
    with pytest.raises(ValueError, match=r"checksum") as err:
        load_instance(copied)
    assert str(npz) in str(err.value)


def test_garbage_npz_and_json_are_refused(copied):
    copied.with_suffix(".npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=str(copied.with_suffix(".npz"))):
        load_instance(copied)
    copied.write_text(copied.read_text()[:50])
    with pytest.raises(ValueError, match=rf"{copied}.*corrupt or truncated"):
        load_instance(copied)


def test_other_format_version_is_refused(copied):
    side = json.loads(copied.read_text())
    side["format_version"] = FORMAT_VERSION + 1
    copied.write_text(json.dumps(side))
    with pytest.raises(ValueError, match=rf"{copied}.*format_version={FORMAT_VERSION + 1}"):
        load_instance(copied)


def test_missing_files_and_tampered_optimum(copied, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_instance(tmp_path / "nope.json")
    copied.with_suffix(".npz").unlink()
    with pytest.raises(ValueError, match="does not exist"):
        load_instance(copied)


def test_too_large_t_is_refused_with_the_memory_needed():
    with pytest.raises(ValueError, match=r"t=30 .*8\.0 GiB"):
        check_table_size(30)
    with pytest.raises(ValueError, match=r"t=25 .*256\.0 MiB.*max_t=24"):
        check_table_size(25)
    check_table_size(24)

    class Big(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :2]

    with pytest.raises(ValueError, match=r"t=36 .*512\.0 GiB"):  # refused before any forward pass
        build_instance(Big(), torch.zeros(1, 6, 6), 0, (6, 6), name="big")


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="length 2"):
        TableOracle(np.zeros(6))
    with pytest.raises(ValueError, match="NaN"):
        TableOracle(np.array([0.0, 1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="name"):
        instance_from_table(np.zeros(4), "a/b")


def test_table_oracle_counts_and_cache():
    values = np.arange(16.0)
    o = TableOracle(values)
    assert o.counters()["forward_passes"] == 1  # D({}) like a model oracle's probe pass
    out = o.evaluate_keys(np.array([3, 3, 5, 0], dtype=np.uint64))
    np.testing.assert_array_equal(out, [3, 3, 5, 0])
    assert (o.forward_passes, o.cache_hits, o.requests) == (3, 2, 5)
    masks = np.array([[True, True, False, False], [False, False, False, True]])
    np.testing.assert_array_equal(o.evaluate(masks), [3, 8])
    assert (o.forward_passes, o.cache_hits) == (4, 3)
    o.limits = Limits(forward_passes=4)
    from trace_opt import BudgetExhausted

    with pytest.raises(BudgetExhausted):
        o.evaluate_keys(np.array([9], dtype=np.uint64))
    o.clear_cache()
    assert o.counters()["cache_size"] == 0
    nc = TableOracle(values, cache=False)
    nc.evaluate_keys(np.array([1, 1], dtype=np.uint64))
    assert nc.forward_passes == 3 and nc.cache_hits == 0


# -------------------------------------------------------------------------------- leaderboard
def test_leaderboard_gaps_are_exact(tmp_path):
    lib = load_library(SAMPLE)
    sa = '{"name": "sa", "params": {"iterations": 200, "init": "random"}}'  # a JSON spec, as on the command line
    board = leaderboard(lib, ["greedy", sa, "exact"], budgets=[50, 5000], seeds=[0, 1])
    assert len(board["runs"]) == 3 * 2 * len(lib) * 2
    for row in board["runs"]:
        inst = next(i for i in lib if i.name == row["instance"])
        assert row["normalised_gap"] == pytest.approx(inst.normalised_gap(row["score"]), abs=1e-12)
        assert row["normalised_gap"] >= -1e-12
        assert row["forward_passes"] <= row["budget"]
    exact = [r for r in board["summary"] if r["solver"] == "exact" and r["budget"] == 5000][0]
    assert exact["mean_gap"] == pytest.approx(0.0, abs=1e-12) and exact["optimal_fraction"] == 1.0
    paths = write_leaderboard(board, tmp_path)
    assert json.loads(paths["json"].read_text())["summary"] == board["summary"]
    assert "| exact | 5000 | 0.0000" in leaderboard_table(board)
    assert paths["png"].stat().st_size > 1000


def test_leaderboard_keeps_finished_solves_and_resumes_from_them(tmp_path):
    """Issue 22 item 5: a board stopped part-way (here: by an exception from the progress callback, as
    Ctrl-C would) keeps its finished solves in the keep folder (a RecordStore), a damaged record is
    computed again, and the resumed board runs only the missing solves and equals an uninterrupted one
    (run times aside)."""
    lib = load_library(SAMPLE)[:2]
    specs, budgets, seeds = ["sa", "greedy"], [100], [0, 1]
    options = {"sa": {"iterations": 300}}
    keep = tmp_path / "board.solves"
    seen = []

    def stop_after_3(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        leaderboard(lib, specs, budgets, seeds, progress=stop_after_3, keep=keep, solver_options=options)
    kept = sorted(keep.glob("*.json"))
    assert len(kept) == 3
    kept[0].write_text('{"row": "half a fi')  # a damaged record: computed again
    first_seconds = json.loads(kept[1].read_text())["row"]["seconds"]
    solved = []
    board = leaderboard(lib, specs, budgets, seeds, progress=solved.append, keep=keep, solver_options=options)
    assert json.loads(kept[1].read_text())["row"]["seconds"] == first_seconds  # reused, not run again
    ref = leaderboard(lib, specs, budgets, seeds, solver_options=options)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert json.loads(json.dumps(drop(board["runs"]))) == json.loads(json.dumps(drop(ref["runs"])))
    assert board["summary"] == ref["summary"]
    assert len(list(keep.glob("*.json"))) == 8
    other = leaderboard(lib, specs, [101], seeds, keep=keep, solver_options=options)  # another budget: another solve
    assert len(list(keep.glob("*.json"))) == 8 + 8 and other["runs"][0]["budget"] == 101


@pytest.mark.parametrize("stem", ["../../x", "a/b", "..", "", ".hidden"])
def test_leaderboard_stem_must_stay_in_the_folder(tmp_path, stem):
    from trace_opt.cli import main

    with pytest.raises(SystemExit) as exc:
        main(
            [
                "instances",
                "leaderboard",
                "--library",
                str(SAMPLE),
                "--solvers",
                "greedy",
                "--budgets",
                "10",
                "--out",
                str(tmp_path / "out"),
                "--stem",
                stem,
            ]
        )
    assert exc.value.code == 2
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("x.*"))


def test_solver_spec_parsing_and_split():
    assert parse_solver_spec('{"name": "sa", "params": {"eta": 0.99, "init": "random", "T0": 2}}') == (
        'sa {"T0": 2, "eta": 0.99, "init": "random"}',
        "sa",
        {"eta": 0.99, "init": "random", "T0": 2},
    )
    assert parse_solver_spec({"name": "tabu", "params": {"candidates": 8}, "label": "t8"}) == (
        "t8",
        "tabu",
        {"candidates": 8},
    )
    assert parse_solver_spec("sa", {"sa": {"K": 100}, "tabu": {"candidates": 8}}) == ('sa {"K": 100}', "sa", {"K": 100})
    assert parse_solver_spec({"name": "sa", "params": {"K": 5}}, {"sa": {"K": 100, "eta": 0.9}})[2] == {
        "K": 5,
        "eta": 0.9,
    }  # the spec's own params win over --solver-options
    for old in ("sa:eta=0.99", "sa:eta"):  # the old syntax: refused, saying what to write instead
        with pytest.raises(ValueError, match=r"name:key=value. form is gone.*--solver-options"):
            parse_solver_spec(old)
    with pytest.raises(ValueError, match="only 'name', 'params', 'label'"):
        parse_solver_spec({"name": "sa", "options": {}})
    train, test = split_library(list(range(7)), 2)
    assert train == [0, 2, 4, 6] and test == [1, 3, 5]


# ------------------------------------------------------------------ sample = live digits model
def test_sample_matches_the_live_digits_model(tmp_path):
    """Rebuild the smallest shipped instance from trace_opt.models.data.digits_cnn(8, model_seed=0): same weights
    (fingerprint) and the same table. If this fails, rebuild the sample with the command in
    instances/sample/README.md."""
    from trace_opt.models.data import digits_cnn

    shipped = load_instance(SAMPLE / "digits8_test0000_g2x3_logit_zeros.json")
    assert shipped.metadata["model_fingerprint"] == model_fingerprint(digits_cnn(8, model_seed=0))
    (path,) = build_library(tmp_path, grids=[(2, 3)], inputs=[0], reference="zeros", output="logit")
    live = load_instance(path)
    assert live.name == shipped.name and live.metadata["target"] == shipped.metadata["target"]
    np.testing.assert_allclose(live.values, shipped.values, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(live.arrays["x"], shipped.arrays["x"])
    assert live.metadata["model_fingerprint"] == shipped.metadata["model_fingerprint"]
    assert "python -m trace_opt instances build" in (SAMPLE / "README.md").read_text()


# --------------------------------------------------------------------- sidecar optima checked
def _rewrite(path, edit):
    side = json.loads(path.read_text())
    edit(side)
    path.write_text(json.dumps(side))


def test_tampered_optimum_is_refused_on_load(copied):
    _rewrite(
        copied,
        lambda side: side["objectives"]["le-mo"].__setitem__("optimum", side["objectives"]["le-mo"]["optimum"] + 1.0),
    )
    with pytest.raises(ValueError, match=rf"{copied}.*objectives_sha256"):
        load_instance(copied)


def test_malformed_optima_are_refused_even_with_a_matching_checksum(copied):
    from trace_opt.benchmarks.instances import _objectives_digest

    def edit(side):
        side["objectives"]["le"]["trajectory"] = [0] * side["t"]
        side["objectives_sha256"] = _objectives_digest(side["objectives"])

    _rewrite(copied, edit)
    with pytest.raises(ValueError, match=rf"{copied}.*'le'.*not a permutation"):
        load_instance(copied)

    def edit2(side):
        side["objectives"]["le"]["trajectory"] = list(range(side["t"]))
        side["objectives"]["mo"]["random_mean"] = "1.0"
        side["objectives_sha256"] = _objectives_digest(side["objectives"])

    _rewrite(copied, edit2)
    with pytest.raises(ValueError, match=rf"{copied}.*random_mean.*not a finite number"):
        load_instance(copied)


def test_version_1_sidecars_load_with_their_optima_verified(copied):
    def to_v1(side):
        side["format_version"] = 1
        del side["objectives_sha256"]

    _rewrite(copied, to_v1)
    assert load_instance(copied).name == copied.stem  # an intact version-1 file still loads
    _rewrite(
        copied, lambda side: side["objectives"]["mo"].__setitem__("optimum", side["objectives"]["mo"]["optimum"] - 0.5)
    )
    with pytest.raises(ValueError, match=rf"{copied}.*differs from the recomputed"):
        load_instance(copied)  # no checksum of the optima in version 1: recomputed by DP on load


# ----------------------------------------------------------------- bad files name the file
def test_too_large_t_in_a_sidecar_names_the_file(copied):
    _rewrite(copied, lambda side: side.__setitem__("t", 30))
    with pytest.raises(ValueError, match=rf"instance file {copied}: t=30 is too large"):
        load_instance(copied)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "sub/x.npz", "..", "", "/abs.npz", 7])
def test_npz_field_must_be_a_plain_file_name(copied, bad):
    _rewrite(copied, lambda side: side.__setitem__("npz", bad))
    with pytest.raises(ValueError, match=rf"instance file {copied}: npz=.*plain file name in the same directory"):
        load_instance(copied)


def test_garbage_npz_message_names_the_file_without_pickle_talk(copied):
    npz = copied.with_suffix(".npz")
    npz.write_bytes(b"\x80\x04 not a zip file, looks like a pickle")
    with pytest.raises(ValueError, match=rf"{npz} is not an \.npz \(zip\) archive") as err:
        load_instance(copied)
    assert "pickle" not in str(err.value)


# ---------------------------------------------------------------------- table statistics
def test_table_stats_find_inert_features():
    rng = np.random.default_rng(0)
    t = 5
    w = rng.normal(size=t)
    w[[1, 3]] = 0.0  # deleting features 1 and 3 never changes D
    keys = np.arange(1 << t)
    values = np.array([sum(w[i] for i in range(t) if k >> i & 1) for k in keys]) + 1.0
    stats = table_stats(values)
    assert stats["inert_features"] == [1, 3] and stats["effective_t"] == 3 and stats["distinct_values"] == 8
    assert instance_from_table(values, "lin").metadata["table"] == stats
    shipped = load_library(SAMPLE)
    assert all(inst.metadata["table"] == table_stats(inst.values) for inst in shipped)


def test_leaderboard_markdown_has_a_header(tmp_path):
    lib = load_library(SAMPLE)
    board = leaderboard(
        lib[:2], ["greedy", "sa"], budgets=[30, 60], seeds=[3, 4], solver_options={"sa": {"iterations": 50}}
    )
    board.update(library="instances/sample", command="python -m trace_opt instances leaderboard --library x")
    md = write_leaderboard(board, tmp_path)["md"].read_text()
    head = md.split("| solver |")[0]
    for text in (
        "python -m trace_opt instances leaderboard --library x",
        "instances/sample",
        lib[0].metadata["model_fingerprint"],
        lib[0].metadata["model"],
        "objective: le-mo",
        "budgets (forward passes): 30, 60",
        "seeds: 3, 4",
        "reference: zeros",
        '`sa {"iterations": 50}`',
        "distinct table values",
    ):
        assert text in head, text
    assert "| greedy | 30 |" in md


@pytest.mark.parametrize(
    "command, message",
    [
        (["leaderboard", "--library", str(SAMPLE), "--solvers", "sa:eta=0.99"], "--solver-options"),
        (["leaderboard", "--library", str(SAMPLE), "--solver-options", '{"K": 100}'], 'e.g. {"sa": {"K": 100}}'),
        (["leaderboard", "--library", str(SAMPLE), "--solvers", "sa", "--solver-options", '{"tabu": {}}'], "among"),
        (["build", "--grids", "2x3", "--solver", "tabu"], "--solver does not apply to instances build"),
        (["build", "--grids", "2x3", "--features", "4"], "--features: does not apply to instances build"),
        (["build", "--features", "superpixels"], "the kind of features is --segmentation grid|superpixels"),
    ],
)
def test_instances_cli_refuses_the_old_solver_syntax_and_unused_settings(tmp_path, capsys, command, message):
    from trace_opt.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["instances", *command, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_leaderboard_cli_takes_solver_options_as_json(tmp_path):
    from trace_opt.cli import main

    out = tmp_path / "out"
    args = ["instances", "leaderboard", "--library", str(SAMPLE), "--solvers", "greedy", "sa"]
    args += ["--solver-options", '{"sa": {"iterations": 40}}', "--budgets", "60", "--seeds", "2"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["solvers"][1] == {"label": 'sa {"iterations": 40}', "name": "sa", "params": {"iterations": 40}}
    ref = leaderboard(load_library(SAMPLE), ["greedy", {"name": "sa", "params": {"iterations": 40}}], [60], [2])
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(board["runs"]) == json.loads(json.dumps(drop(ref["runs"])))
    assert not (out / "leaderboard.solves").exists()  # the kept solves go once the board is written


def test_build_library_records_model_and_data_seeds(tmp_path):
    (path,) = build_library(tmp_path, grids=[(2, 3)], inputs=[0], data_seed=0, model_seed=0)
    meta = load_instance(path).metadata
    assert meta["input"]["data_seed"] == 0 and meta["model_seed"] == 0
    (other,) = build_library(tmp_path, grids=[(2, 3)], inputs=[0], data_seed=1)  # another split: another instance
    assert other.name == "digits8_test0000_g2x3_logit_zeros_d1.json" and path.exists()
    assert load_instance(other).metadata["input"]["data_seed"] == 1
    assert not np.array_equal(load_instance(other).arrays["x"], load_instance(path).arrays["x"])
    with pytest.raises(ValueError, match="shorthands for settings"):
        build_library(tmp_path, grids=[(2, 3)], reference="mean", settings=ExplainSettings(output="prob"))
