"""Bad input at the public boundary: a ValueError that names the argument, before any heavy work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import trace_opt
from solvers import Greedy, SimulatedAnnealing, get_solver
from trace_opt import (
    CallableOracle,
    ModelOracle,
    SetFunctionOracle,
    TraceProblem,
    grid_features,
    segmentation_features,
    tabular_features,
)

torch.set_num_threads(1)


class Counting(torch.nn.Module):
    """Flatten + Linear on 1 x 6 x 6 inputs; counts its calls."""

    def __init__(self, out=3, fill=None):
        super().__init__()
        self.lin = torch.nn.Linear(36, out)
        self.fill = fill
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        z = self.lin(x.flatten(1))
        if self.fill is not None:
            z = z.clone()
            z[:, 0] = self.fill
        return z


@pytest.fixture
def model():
    return Counting().eval()


@pytest.fixture
def x():
    return torch.rand(1, 6, 6)


# --------------------------------------------------------------------------- ModelOracle
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(output="softmax"), "output='softmax'"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(batch_size=2.5), "batch_size=2.5"),
        (dict(reference="gauss"), "reference='gauss'"),
        (dict(reference=torch.zeros(6, 6)), "reference tensor"),
        (dict(features=np.zeros((5, 6), dtype=int) + np.arange(6)), "does not cover"),
        (dict(features=grid_features((6, 5), 2)), "does not cover"),
        (dict(features=np.zeros((6, 6), dtype=int)), "t >= 2"),
        (dict(features=1), "t >= 2"),
        (dict(features=np.random.rand(6, 6)), "features"),
        (dict(reference="blur", sigma=-1.0), "sigma"),
    ],
)
def test_model_oracle_refuses_before_any_forward_pass(model, x, kwargs, match):
    args = dict(target=0, features=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ModelOracle(model, x, **args)
    assert model.calls == 0


@pytest.mark.parametrize("bad_x,match", [(torch.tensor(1.0), "x must be"), (torch.zeros(1), "x must be")])
def test_model_oracle_refuses_degenerate_inputs(model, bad_x, match):
    with pytest.raises(ValueError, match=match):
        ModelOracle(model, bad_x, 0, features=tabular_features(2))
    assert model.calls == 0


def test_model_oracle_wrong_input_shape_for_the_model(model):
    with pytest.raises(ValueError, match=r"x of shape \(1, 5, 5\)"):
        ModelOracle(model, torch.rand(1, 5, 5), 0, features=2)
    assert model.calls == 1  # the single probe call that failed


@pytest.mark.parametrize("target", [3, -1, 1.0, True, "0"])
def test_model_oracle_target_out_of_range(model, x, target):
    with pytest.raises(ValueError, match="target="):
        ModelOracle(model, x, target, features=3)
    assert model.calls == 1  # the probe pass that reads the number of classes


def test_model_oracle_default_target_is_the_predicted_class(model, x):
    oracle = ModelOracle(model, x, None, features=3)
    with torch.no_grad():
        assert oracle.target == int(model(x[None]).argmax())
    assert oracle.forward_passes == 1


def test_model_must_return_batch_by_classes(x):
    for fn in (lambda b: b.flatten(1).sum(1), lambda b: b.flatten(1)[:, :3][None]):
        with pytest.raises(ValueError, match="shape"):
            ModelOracle(fn, x, 0, features=3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_model_output(x, bad):
    model = Counting(fill=bad).eval()
    with pytest.raises(ValueError, match="NaN or infinite"):
        ModelOracle(model, x, 0, features=3)

    # finite on x but not on a masked input: refused at evaluation
    class Late(torch.nn.Module):
        def forward(self, b):
            z = torch.zeros(b.shape[0], 2)
            z[b.flatten(1).sum(1) == 0, 0] = bad  # everything deleted (zeros reference)
            return z

    oracle = ModelOracle(Late().eval(), x + 1.0, 0, features=2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        oracle.evaluate(np.ones((1, 4), dtype=bool))
    prob = ModelOracle(Late().eval(), x + 1.0, 0, features=2, output="prob")
    if bad == -float("inf"):  # a logit of -inf is a probability of exactly 0: finite, accepted
        assert float(prob.evaluate(np.ones(4, dtype=bool))) == 0.0
    else:
        with pytest.raises(ValueError, match="NaN or infinite"):
            prob.evaluate(np.ones(4, dtype=bool))


# --------------------------------------------------------------------------- other oracles and features
def test_callable_and_set_function_oracles_refuse():
    calls = []

    def fn(b):
        calls.append(len(b))
        return np.zeros((len(b), 2))

    with pytest.raises(ValueError, match="fn must be callable"):
        CallableOracle("not callable", np.zeros(4))
    with pytest.raises(ValueError, match="x must be"):
        CallableOracle(fn, np.zeros(1), target=0)
    with pytest.raises(ValueError, match="batch_size"):
        CallableOracle(fn, np.zeros(4), target=0, batch_size=0)
    with pytest.raises(ValueError, match="does not cover"):
        CallableOracle(fn, np.zeros(4), features=tabular_features(5), target=0)
    assert calls == []
    with pytest.raises(ValueError, match="target"):
        CallableOracle(fn, np.zeros(4), target=2)
    with pytest.raises(ValueError, match="fn must return"):
        CallableOracle(lambda b: np.zeros((len(b), 2, 2)), np.zeros(4), target=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        CallableOracle(lambda b: np.full(len(b), np.nan), np.zeros(4))
    with pytest.raises(ValueError, match="fn must be callable"):
        SetFunctionOracle(3, 4)
    with pytest.raises(ValueError, match="t=1"):
        SetFunctionOracle(lambda m: m.sum(1), 1)


def test_t_below_two_is_refused_everywhere():
    with pytest.raises(ValueError, match="t >= 2"):
        grid_features((5, 5), 1)
    with pytest.raises(ValueError, match="t >= 2"):
        segmentation_features(np.ones((3, 3), dtype=int))
    with pytest.raises(ValueError, match="n_columns"):
        tabular_features(1)
    with pytest.raises(ValueError, match="at least 2"):
        tabular_features(3, groups=[[0, 1, 2]])


# --------------------------------------------------------------------------- problem and trajectories
@pytest.fixture
def problem():
    return TraceProblem(SetFunctionOracle(lambda m: m.sum(1).astype(float), 4), "le-mo")


@pytest.mark.parametrize(
    "sigma",
    [[0, 1, 2], [0, 1, 2, 2], [0, 1, 2, 4], [-1, 0, 1, 2], [[0, 1], [2, 3]], [0.0, 1.5, 2.0, 3.0], [0, 1, 2, 3, 4]],
)
def test_non_permutation_trajectories(problem, sigma):
    for call in (problem.score, problem.chain, problem.curves):
        with pytest.raises(ValueError, match="trajectory"):
            call(sigma)
    with pytest.raises(ValueError, match="init"):
        SimulatedAnnealing(iterations=3, init=sigma).solve(problem)
    with pytest.raises(ValueError, match="trajectory"):
        trace_opt.trajectory_to_heatmap(sigma, grid_features((4, 4), 2))
    assert problem.oracle.forward_passes == 0


@pytest.mark.parametrize(
    "sigma",
    [
        ["1", "0", "2", "3"],
        [None, 1, 2, 3],
        [1 + 0j, 0, 2, 3],
        [True, False, True, True],
        np.array([True, False, False, False]),
    ],
)
def test_trajectories_of_other_types_are_refused_with_a_value_error(problem, sigma):
    with pytest.raises(ValueError, match="trajectory"):
        problem.score(sigma)


def test_problem_refusals(problem):
    with pytest.raises(ValueError, match="objective='auc'"):
        TraceProblem(problem.oracle, "auc")
    with pytest.raises(ValueError, match="oracle"):
        TraceProblem(lambda m: m, "le")
    with pytest.raises(ValueError, match="sigmas"):
        problem.scores(np.arange(4))
    with pytest.raises(ValueError, match="sigmas"):
        problem.scores([[0, 1, 1, 3]])
    assert problem.oracle.forward_passes == 0


# --------------------------------------------------------------------------- solvers
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(eta=1.5), "eta=1.5"),
        (dict(eta=0.0), "eta=0.0"),
        (dict(eta=float("nan")), "eta=nan"),
        (dict(iterations=0), "iterations=0"),
        (dict(iterations=2.0), "iterations=2.0"),
        (dict(T0=-1.0), "T0=-1.0"),
        (dict(T0=0.0), "T0=0.0"),
        (dict(init="best"), "init='best'"),
        (dict(threshold_temperature=-0.1), "threshold_temperature"),
        (dict(neighbourhood="ring-of-fire"), "neighbourhood"),
    ],
)
def test_sa_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimulatedAnnealing(**kwargs)


def test_greedy_and_registry_refusals(problem):
    with pytest.raises(ValueError, match="direction='up'"):
        Greedy("up")
    with pytest.raises(ValueError, match="solver='tsp'"):
        get_solver("tsp")
    for bad in (0, -1, {"forward_passes": -5}, {"seconds": -1.0}, {"iterations": 0}, {"steps": 3}):
        with pytest.raises(ValueError, match="budget"):
            Greedy().solve(problem, budget=bad)
    assert problem.oracle.forward_passes == 0


# --------------------------------------------------------------------------- explain
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(objective="auc"), "objective='auc'"),
        (dict(output="softmax"), "output='softmax'"),
        (dict(solver="tsp"), "solver='tsp'"),
        (dict(solver="sa", solver_options={"eta": 2.0}), "eta=2.0"),
        (dict(budget=0), "budget"),
        (dict(budget={"seconds": -1}), "budget"),
        (dict(heatmap_alpha=0.0), "alpha"),
        (dict(features=np.zeros((5, 6), dtype=int) + np.arange(6)), "does not cover"),
        (dict(reference="gauss"), "reference='gauss'"),
        (dict(batch_size=0), "batch_size"),
        # options that used to escape as TypeErrors, or be ignored silently
        (
            dict(iterations=10),
            r"\['iterations'\] is not a setting of an explanation; expected among "
            r".*solver hyperparameters go in solver_options",
        ),
        (dict(sigma=-3), r"sigma=-3 is only used by reference='blur'; reference='zeros' ignores it"),
        (dict(reference="blur", value=1.0), "value=1.0 is only used by reference='constant'"),
        (
            dict(solver_options={"foo": 1}),
            r"solver_options of solver='sa': unknown option\(s\) \['foo'\]; accepted: .*'iterations'",
        ),
        (
            dict(solver="greedy", solver_options={"iterations": 5}),
            r"unknown option\(s\) \['iterations'\]; accepted: \['direction'\]",
        ),
        (dict(seed=-1), "seed=-1 is not valid; expected an integer >= 0 or None"),
        (dict(seed="a"), "seed='a'"),
        (dict(seed=1.5), "seed=1.5"),
        (dict(device="cudaX"), "device='cudaX' is not valid"),
        (dict(reference=torch.full((1, 6, 6), float("nan"))), "reference contains 36 NaN"),
    ],
)
def test_explain_refuses_before_any_forward_pass(model, x, kwargs, match):
    args = dict(features=3, target=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        trace_opt.explain(model, x, **args)
    assert model.calls == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_explain_refuses_a_non_finite_input_as_x(model, x, bad):
    """Used to be reported after the probe pass as "model output contains NaN"."""
    x = x.clone()
    x[0, 2, 3] = bad
    with pytest.raises(ValueError, match="x contains 1 NaN or infinite"):
        trace_opt.explain(model, x, features=3)
    assert model.calls == 0
    calls = []
    with pytest.raises(ValueError, match="x contains 1 NaN or infinite"):
        trace_opt.explain(lambda b: calls.append(1) or np.ones((len(b), 3)), x.numpy(), target=0, features=3)
    assert calls == []
    with pytest.raises(ValueError, match="x contains"):  # finite in float64, inf once cast to the model's float32
        trace_opt.explain(model, np.full((1, 6, 6), 1e300), features=3)


def test_explain_callable_with_class_scores_needs_a_target(x):
    """A (B, n_classes) callable with target=None used to get "target=None is out of range"."""

    def scores(b):
        return b.reshape(len(b), -1)[:, :3]

    with pytest.raises(
        ValueError,
        match=r"target=None: the callable model returns \(B, n_classes\) scores, so "
        "give target=",
    ):
        trace_opt.explain(scores, x.numpy(), features=3, solver="greedy")
    assert trace_opt.explain(scores, x.numpy(), target=2, features=3, solver="greedy").target == 2
    # one score per input: target=None is right, and an explicit target is still refused
    exp = trace_opt.explain(lambda b: b.reshape(len(b), -1).sum(1), x.numpy(), features=3, solver="greedy")
    assert exp.target is None and exp.output == "raw"


def test_explain_seed_none_and_device_objects(model, x):
    exp = trace_opt.explain(
        model,
        x,
        target=0,
        features=3,
        reference="noise",
        solver="sa",
        solver_options={"iterations": 5},
        seed=None,
        device=torch.device("cpu"),
    )
    assert exp.result.seed is None and sorted(exp.trajectory.tolist()) == list(range(9))
    assert torch.isfinite(exp.oracle.reference).all()


def test_explain_wrong_input_shape_and_model_type(model):
    with pytest.raises(ValueError, match="x of shape"):
        trace_opt.explain(model, torch.rand(1, 5, 5), features=2)  # default target: still a ValueError
    with pytest.raises(ValueError, match="target="):
        trace_opt.explain(model, torch.rand(1, 6, 6), target=7, features=2)
    with pytest.raises(ValueError, match="model must be"):
        trace_opt.explain("resnet", torch.rand(1, 6, 6))


def test_a_model_returning_the_wrong_batch_size_is_refused(x):
    """Scores for fewer (or more) rows than sent would otherwise broadcast silently into D values."""

    class FirstRowOnly(torch.nn.Module):
        def forward(self, b):
            return b.flatten(1)[:1, :3]

    oracle = ModelOracle(FirstRowOnly().eval(), x, 0, features=3)  # the probe (B = 1) is fine
    with pytest.raises(ValueError, match=r"returned output of shape \(1, 3\) for a batch of 4"):
        oracle.evaluate(np.eye(9, dtype=bool)[:4])
    assert oracle.counters()["cache_size"] == 1
    callable_oracle = CallableOracle(lambda b: np.ones(1), np.arange(4.0))
    with pytest.raises(ValueError, match=r"fn returned output of shape \(1,\) for a batch of 3"):
        callable_oracle.evaluate(np.eye(4, dtype=bool)[:3])
    with pytest.raises(ValueError, match="fn must return"):  # 2 rows for a probe of 1
        CallableOracle(lambda b: np.ones((2 * len(b), 2)), np.arange(4.0), target=0)


def test_integer_scalar_targets_are_accepted(model, x):
    """Labels often come as 0-d tensors/arrays (y_test[i]); floats and bools are still refused."""
    for target, expected in ((torch.tensor(2), 2), (np.array(1), 1), (np.int64(0), 0), (torch.tensor([1])[0], 1)):
        assert ModelOracle(model, x, target, features=3).target == expected
        assert CallableOracle(lambda b: np.ones((len(b), 3)), x.numpy(), features=3, target=target).target == expected
    for bad in (torch.tensor(1.0), np.float64(1.0), torch.tensor([1, 2]), np.bool_(True)):
        with pytest.raises(ValueError, match="target="):
            ModelOracle(model, x, bad, features=3)
        with pytest.raises(ValueError, match="target="):
            CallableOracle(lambda b: np.ones((len(b), 3)), x.numpy(), features=3, target=bad)


def test_solver_options_with_a_solver_instance_are_not_silently_ignored(model, x):
    with pytest.raises(ValueError, match="Solver instance"):
        get_solver(SimulatedAnnealing(), iterations=5)
    with pytest.raises(ValueError, match="Solver instance"):
        trace_opt.explain(model, x, target=0, features=3, solver=Greedy(), solver_options={"direction": "morf"})
    assert model.calls == 0


def test_finite_checks_share_their_test_and_wording():
    """check_finite_array (arguments) and check_finite_values (model answers): same count, own advice."""
    from trace_opt.core.validation import check_finite_array, check_finite_values

    vals = np.array([1.0, np.nan, np.inf, -np.inf, 2.0])
    with pytest.raises(ValueError, match=r"^x contains 3 NaN or infinite value\(s\); expected finite numbers$"):
        check_finite_array("x", vals)
    with pytest.raises(ValueError, match=r"^x contains 3 NaN or infinite value\(s\); expected finite numbers$"):
        check_finite_array("x", torch.as_tensor(vals))
    with pytest.raises(
        ValueError,
        match=r"^model output contains 3 NaN or infinite value\(s\); D\(S\) must be "
        r"finite for every set \(check the model, the reference and the output= "
        r"choice\)$",
    ):
        check_finite_values(vals)
    with pytest.raises(ValueError, match=r"^fn contains 1 NaN"):
        check_finite_values(vals[:2], "fn")
    with pytest.raises(ValueError, match="x must hold numbers; got dtype <U1"):
        check_finite_array("x", np.array(["a"]))
    check_finite_array("x", torch.ones(3, dtype=torch.bfloat16))  # no numpy dtype: widened, accepted
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        check_finite_array("x", torch.tensor([1.0, float("nan")], dtype=torch.bfloat16))
    check_finite_array("x", [[1, 2], [3, 4]])
    check_finite_values(np.zeros(3))
