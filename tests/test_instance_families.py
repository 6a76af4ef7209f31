"""Instance families: the knob moves additivity monotonically, tables equal the generators, optima equal
DP and brute force, seeded determinism, validation, the generate CLI and the shipped hard library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brute import brute_force_table
from solvers.complete import complete_table, exact_optimum
from trace_opt import TraceProblem
from trace_opt.benchmarks.difficulty import count_optimal_trajectories, library_stats
from trace_opt.benchmarks.families import (
    FAMILIES,
    LogicSetFunction,
    build_family_library,
    family_instance,
    family_instance_name,
    make_generator,
    parse_sizes,
)
from trace_opt.benchmarks.instances import load_instance, load_library
from trace_opt.core.objective import OBJECTIVES

HARD = Path(__file__).resolve().parents[1] / "instances" / "hard"


def _mean_r2(interaction, t=10, seeds=range(6), **params):
    return float(
        np.mean(
            [
                family_instance("logic", t, s, interaction=interaction, **params).metadata["difficulty"][
                    "additivity_r2"
                ]
                for s in seeds
            ]
        )
    )


@pytest.mark.parametrize(
    "params", [{}, {"order": 2, "kinds": ["and", "or"]}, {"saturation": 1.0}, {"order": 4, "kinds": ["xor"]}]
)
def test_knob_moves_additivity_monotonically(params):
    knobs = [0.0, 0.25, 0.5, 0.75, 1.0]
    r2 = [_mean_r2(k, **params) for k in knobs]
    assert r2[0] == pytest.approx(1.0) if not params.get("saturation") else r2[0] > 0.9
    assert all(a > b for a, b in zip(r2, r2[1:])), r2
    assert r2[-1] < 0.7


def test_chunks_knob_moves_additivity_monotonically():
    knobs = [0.0, 0.5, 1.0, 2.0, 4.0]
    r2 = [
        float(
            np.mean(
                [
                    family_instance("chunks", 10, s, interaction=k).metadata["difficulty"]["additivity_r2"]
                    for s in range(6)
                ]
            )
        )
        for k in knobs
    ]
    assert r2[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(r2, r2[1:])), r2


def test_knob_makes_greedy_miss_the_optimum():
    def greedy_optimal(k):
        return np.mean(
            [
                family_instance("logic", 12, s, interaction=k).metadata["difficulty"]["objectives"]["le-mo"][
                    "greedy_optimal"
                ]
                for s in range(6)
            ]
        )

    assert greedy_optimal(0.0) == 1.0
    assert greedy_optimal(0.75) <= 0.2


@pytest.mark.parametrize(
    "family,params",
    [
        ("logic", {"interaction": 0.7, "saturation": 0.5}),
        ("logic", {"interaction": 1.0, "kinds": "xor", "order": 3}),
        ("chunks", {"interaction": 1.5, "width": 3}),
    ],
)
def test_table_equals_the_generator_values(family, params):
    t = 9
    gen = make_generator(family, t, 4, **params)
    inst = family_instance(family, t, 4, **params)
    # through a counted oracle over bool masks (a different code path from table())
    live = complete_table(TraceProblem(gen.oracle(cache=False), "le"))
    np.testing.assert_array_equal(inst.values, live)
    # set by set, from explicit bool masks
    rng = np.random.default_rng(0)
    for key in rng.integers(0, 1 << t, size=20):
        mask = np.array([(key >> i) & 1 for i in range(t)], dtype=bool)
        assert inst.values[key] == gen(mask[None, :])[0] == gen.values(np.array([key], dtype=np.uint64))[0]
    assert inst.metadata["family"] == family and inst.metadata["params"] == gen.params()
    assert inst.metadata["seed"] == 4


def test_logic_terms_follow_the_formula():
    gen = LogicSetFunction(t=6, seed=2, interaction=0.5, order=2, terms=3, saturation=0.0)
    X = np.random.default_rng(1).integers(0, 2, size=(40, 6)).astype(bool)  # deletion masks
    kept = ~X
    want = 0.5 * (kept @ gen.weights) / gen.sd_additive
    inter = np.zeros(len(X))
    for g, kind, a in zip(gen.groups, gen.term_kinds, gen.term_weights):
        k = kept[:, g]
        val = {"and": k.all(axis=1), "or": k.any(axis=1), "xor": k.sum(axis=1) % 2 == 1}[kind]
        inter += a * val
    want += 0.5 * inter / gen.sd_interaction
    np.testing.assert_allclose(gen(X), want, rtol=1e-12, atol=1e-12)
    sat = LogicSetFunction(t=6, seed=2, interaction=0.5, order=2, terms=3, saturation=2.0)
    np.testing.assert_allclose(sat(X), np.tanh(2.0 * want) / 2.0, rtol=1e-12, atol=1e-12)


def test_generators_are_seeded():
    a = family_instance("logic", 8, 3, interaction=0.6)
    b = family_instance("logic", 8, 3, interaction=0.6)
    c = family_instance("logic", 8, 4, interaction=0.6)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)


@pytest.mark.parametrize("t", [4, 5, 6, 7])
def test_family_optima_equal_dp_and_brute_force(t):
    for family, params in (("logic", {"interaction": 0.8}), ("chunks", {"interaction": 1.0, "width": 3})):
        inst = family_instance(family, t, t, **params)
        for objective in OBJECTIVES:
            scores = brute_force_table(inst.values, objective).scores
            assert inst.optimum(objective) == pytest.approx(scores.max(), abs=1e-12)
            assert inst.optimum(objective) == exact_optimum(inst.values, objective)[1]
            assert inst.score(inst.objectives[objective]["trajectory"], objective) == pytest.approx(scores.max())
            o = inst.metadata["difficulty"]["objectives"][objective]
            assert o["optimal_trajectories"] == int(np.sum(scores >= scores.max() - 1e-9))
            assert o["optimal_trajectories"] == count_optimal_trajectories(inst.values, objective)[1]
            assert o["random_mean"] == pytest.approx(scores.mean(), abs=1e-9)


def test_sizes_up_to_20_have_exact_optima():
    inst = family_instance("logic", 20, 0, interaction=0.6)
    assert inst.t == 20 and len(inst.values) == 1 << 20
    sigma, opt = exact_optimum(inst.values, "le-mo")
    assert inst.optimum("le-mo") == opt
    d = inst.metadata["difficulty"]["objectives"]["le-mo"]
    assert d["greedy_score"] <= opt + 1e-9


def test_validation():
    with pytest.raises(ValueError, match="interaction"):
        LogicSetFunction(8, interaction=1.5)
    with pytest.raises(ValueError, match="interaction"):
        LogicSetFunction(8, interaction=-0.1)
    with pytest.raises(ValueError, match="order"):
        LogicSetFunction(4, order=5)
    with pytest.raises(ValueError, match="order"):
        LogicSetFunction(4, order=1)
    with pytest.raises(ValueError, match="kinds"):
        LogicSetFunction(6, kinds=["nand"])
    with pytest.raises(ValueError, match="kinds is empty"):
        LogicSetFunction(6, kinds=[])
    with pytest.raises(ValueError, match="family"):
        make_generator("tsp", 8)
    with pytest.raises(ValueError, match="too large"):
        family_instance("logic", 25, 0)
    with pytest.raises(ValueError, match="not T"):
        parse_sizes("12*a")
    assert parse_sizes("12*10,14*10,16*4") == [(12, 10), (14, 10), (16, 4)]
    assert parse_sizes("9") == [(9, 1)]
    assert set(FAMILIES) == {"logic", "chunks"}


def test_build_family_library_resumes(tmp_path):
    logs = []
    paths = build_family_library(tmp_path, "logic", ts=[6, 7], seeds=[0, 1], log=logs.append, interaction=0.5)
    assert len(paths) == 4 and all(p.exists() for p in paths)
    assert paths[0].name == family_instance_name("logic", 6, 0, interaction=0.5) + ".json"
    assert all(line.startswith("built") for line in logs)
    logs.clear()
    again = build_family_library(tmp_path, "logic", ts=[6, 7], seeds=[0, 1], log=logs.append, interaction=0.5)
    assert again == paths and all(line.startswith("kept") for line in logs)
    inst = load_instance(paths[0], verify=True)
    np.testing.assert_array_equal(inst.values, make_generator("logic", 6, 0, interaction=0.5).table())


def test_generate_cli(tmp_path, capsys):
    from trace_opt.cli import main

    assert (
        main(
            [
                "instances",
                "generate",
                "--out",
                str(tmp_path),
                "--sizes",
                "6*2,7",
                "--interaction",
                "0.7",
                "--order",
                "3",
                "--first-seed",
                "5",
            ]
        )
        == 0
    )
    lib = load_library(tmp_path)
    assert sorted((i.t, i.metadata["seed"]) for i in lib) == [(6, 5), (6, 6), (7, 5)]
    assert all(i.metadata["params"]["interaction"] == 0.7 for i in lib)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["instances", "generate", "--out", str(tmp_path), "--family", "logic", "--width", "3"])
    assert "does not take --width" in capsys.readouterr().err


def test_shipped_hard_library_is_hard():
    lib = load_library(HARD)
    assert 20 <= len(lib) <= 30 and {i.t for i in lib} <= set(range(12, 17))
    assert sum(p.stat().st_size for p in HARD.iterdir()) < 5 * 2**20
    stats = library_stats(lib)
    s = stats["summary"]
    assert s["greedy_optimal_fraction"] <= 0.10
    assert s["median_greedy_normalised_gap"] >= 0.05
    fresh = library_stats(lib, recompute=True)
    assert json.loads(json.dumps(fresh)) == json.loads(json.dumps(stats))  # stored = recomputed
    # each table is what the recorded generator gives (the README's command rebuilds the library)
    for inst in lib[:: max(1, len(lib) // 4)]:
        gen = make_generator(inst.metadata["family"], **inst.metadata["params"])
        np.testing.assert_array_equal(inst.values, gen.table())
