"""Complete tables computed once and reused by the evaluation (``EvaluationConfig.tables``, ``evaluate --tables``):
the record equals the one computed from the model, the model's passes fall from 2^t to the checked sets, a table
of another model is refused, a table of another input, target or reference is not used, and a budgeted search
after a complete table spends real passes on an oracle of its own."""

import json

import numpy as np
import pytest
import torch

from trace_opt import grid_features
from trace_opt.benchmarks.instances import build_instance, save_instance
from trace_opt.comparison.evaluation import (
    EvaluationConfig,
    evaluate_input,
    evaluation_oracle,
    evaluation_settings,
    trace_name,
)
from trace_opt.comparison.known_tables import CHECKED_RANDOM_SETS, load_tables, matching_table
from trace_opt.core.oracle import SetFunctionOracle

FAST = dict(
    methods=["occlusion", "random"],
    explain=evaluation_settings(sa_iterations=200, batch_size=64),
    trace_objectives=("le-mo",),
)


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 16, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    ).eval()


@pytest.fixture()
def setting(tmp_path):
    model = small_cnn()
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))
    feats = grid_features((4, 4), (2, 3))  # t = 6
    target = int(model(x[None]).argmax())
    for output in ("logit", "prob"):
        inst = build_instance(model, x, target, features=feats, reference="zeros", output=output, name=f"cnn_{output}")
        save_instance(inst, tmp_path / "tables" / inst.name)
    return model, x, feats, target, tmp_path / "tables"


def test_preload_serves_every_set_from_the_cache_and_counts_nothing():
    values = np.arange(16, dtype=np.float64) ** 1.5
    oracle = SetFunctionOracle(lambda m: -float(m.sum()), 4)
    oracle.preload(np.arange(16, dtype=np.uint64), values)
    assert oracle.forward_passes == 0 and oracle.requests == 0
    got = oracle.evaluate_keys(np.arange(16, dtype=np.uint64)[::-1])
    assert np.array_equal(got, values[::-1]) and oracle.forward_passes == 0 and oracle.cache_hits == 16
    with pytest.raises(ValueError, match="3 keys but 2 values"):
        oracle.preload([1, 2, 3], [0.0, 1.0])
    with pytest.raises(ValueError, match="bit at or above t=4"):
        oracle.preload([16], [0.0])
    with pytest.raises(ValueError, match="cache=True"):
        SetFunctionOracle(lambda m: 0.0, 4, cache=False).preload([1], [0.0])


def test_a_reused_table_gives_the_record_computed_from_the_model_at_a_fraction_of_the_passes(setting):
    model, x, feats, target, folder = setting
    fresh = evaluate_input(model, x, target, feats, "zeros", EvaluationConfig(**FAST))
    reused = evaluate_input(model, x, target, feats, "zeros", EvaluationConfig(**FAST, tables=(str(folder),)))
    for o in ("logit", "prob"):
        a, b = fresh["complete"][o], reused["complete"][o]
        assert "table_source" not in a
        src = b["table_source"]
        assert src["source"] == f"cnn_{o}" and src["path"].endswith(f"cnn_{o}.json")
        assert 2 < src["checked_sets"] <= 2 + CHECKED_RANDOM_SETS and src["max_abs_difference"] < 1e-5
        opt_a, opt_b = a["objectives"]["le-mo"]["optimum"], b["objectives"]["le-mo"]["optimum"]
        assert opt_b == pytest.approx(opt_a, rel=1e-6, abs=1e-6)
        assert b["cs_le_minus_cs_mo"] == pytest.approx(a["cs_le_minus_cs_mo"], rel=1e-6, abs=1e-6)
        # the model evaluated all 64 sets without the table, only the checked ones (and D({})) with it
        assert fresh["forward_passes"][o] >= 64
        assert reused["forward_passes"][o] <= 1 + src["checked_sets"] + fresh["forward_passes"][o] - 64
    assert (
        reused["methods"][trace_name("logit", "le-mo")]["trajectory"]
        == fresh["methods"][trace_name("logit", "le-mo")]["trajectory"]
    )  # SA ignores caching


def test_a_table_of_another_model_is_refused(setting):
    _, x, feats, target, folder = setting
    other = small_cnn(seed=7)
    cfg = EvaluationConfig(**FAST, tables=(str(folder),))
    with pytest.raises(ValueError, match="another model or weights"):
        evaluate_input(other, x, target, feats, "zeros", cfg)


def test_a_table_of_another_input_target_reference_or_feature_map_is_not_used(setting):
    model, x, feats, target, folder = setting
    tables = load_tables(folder)
    assert matching_table(tables, x, target, feats, "zeros", "logit").name == "cnn_logit"
    assert matching_table(tables, x + 0.01, target, feats, "zeros", "logit") is None
    assert matching_table(tables, x, (target + 1) % 3, feats, "zeros", "logit") is None
    assert matching_table(tables, x, target, feats, "mean", "logit") is None
    assert matching_table(tables, x, target, feats, torch.zeros_like(x), "logit") is None
    assert matching_table(tables, x, target, grid_features((4, 4), (3, 2)), "zeros", "logit") is None
    with pytest.warns(UserWarning, match="none of the 2 instances given is the table of input 0"):
        rec = evaluate_input(model, x + 0.01, target, feats, "zeros", EvaluationConfig(**FAST, tables=(str(folder),)))
    assert all("table_source" not in c for c in rec["complete"].values())
    with pytest.raises(ValueError, match="neither an instance file"):
        load_tables([folder / "missing"])


def test_a_budgeted_search_after_a_complete_table_spends_real_passes(setting):
    model, x, feats, target, folder = setting
    cfg = EvaluationConfig(
        **{**FAST, "explain": evaluation_settings(solver="greedy", budget=40, batch_size=64)}, tables=(str(folder),)
    )
    rec = evaluate_input(model, x, target, feats, "zeros", cfg)
    for o in ("logit", "prob"):
        m = rec["methods"][trace_name(o, "le-mo")]
        assert m["own_oracle"] and 0 < m["forward_passes"] <= 40
        # its score is read off the exact table, the same as scoring it on the model
        oracle = evaluation_oracle(model, x, target, feats, "zeros", o)
        from trace_opt import TraceProblem

        assert rec["complete"][o]["objectives"]["le-mo"]["sa_score"] == pytest.approx(
            TraceProblem(oracle, "le-mo").score(m["trajectory"]), rel=1e-6, abs=1e-6
        )


def test_evaluate_command_reads_tables(tmp_path, setting):
    from trace_opt.cli import main

    model, x, feats, target, folder = setting
    torch.save(model, tmp_path / "model.pt")
    np.save(tmp_path / "x.npy", x[None].numpy())
    out = tmp_path / "rep"
    # --features 2 x 3 is not a CLI grid: rebuild the tables on the CLI's 2 x 2 grid (t = 4)
    for output in ("logit", "prob"):
        inst = build_instance(model, x, target, features=2, reference="zeros", output=output, name=f"g2_{output}")
        save_instance(inst, tmp_path / "g2" / inst.name)
    args = [
        "evaluate",
        "--model",
        str(tmp_path / "model.pt"),
        "--data",
        str(tmp_path / "x.npy"),
        "--features",
        "2",
        "--n",
        "1",
        "--out",
        str(out),
        "--sa-iterations",
        "50",
        "--methods",
        "random",
        "--sanity-n",
        "0",
        "--no-several-t",
        "--quiet",
        "--tables",
        str(tmp_path / "g2"),
    ]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["records"][0]["complete"]["logit"]["table_source"]["source"] == "g2_logit"
    assert "--tables " + str(tmp_path / "g2") in res["command"]
    assert "2 of the 2 tables were read from instances" in (out / "report.md").read_text()
