"""SA's starts (greedy on the objective, greedy LeRF on D, the paper's greedy LeRF on probabilities) and
what happens at the threshold temperature (stop the run, or hold T there as the authors' code does)."""

import numpy as np
import pytest
import torch

from solvers import get_solver
from solvers.greedy import greedy_order
from trace_opt import ModelOracle, SetFunctionOracle, TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction


class SmallNet(torch.nn.Module):
    """A fixed random ReLU net on 1 x 6 x 6 inputs (float64), 4 classes."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w1 = torch.nn.Parameter(torch.randn(36, 12, generator=g, dtype=torch.float64))
        self.w2 = torch.nn.Parameter(torch.randn(12, 4, generator=g, dtype=torch.float64))

    def forward(self, x):
        return torch.relu(x.reshape(len(x), -1) @ self.w1) @ self.w2


@pytest.fixture
def model_and_input():
    x = torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    return SmallNet().eval(), x


def test_greedy_lerf_is_greedy_on_d_whatever_the_objective():
    fn = SyntheticSetFunction(10, seed=4, width=3)
    problem = TraceProblem(fn.oracle(), "le-mo")
    expected = greedy_order(TraceProblem(fn.oracle(), "le"), "lerf")
    r = get_solver("sa", iterations=1, init="greedy-lerf", T0=1e-9).solve(problem, seed=0)
    assert r.info["start"] == "greedy LeRF on D"
    # the start is the first entry of the history: its score is that of the greedy LeRF order
    assert r.history[0][1] == pytest.approx(problem.score(expected), abs=1e-12)
    on_objective = greedy_order(TraceProblem(fn.oracle(), "le-mo"), "lerf")
    assert not np.array_equal(expected, on_objective)  # the two starts really differ on this function


def test_paper_start_is_greedy_lerf_on_probabilities_and_its_passes_count(model_and_input):
    model, x = model_and_input
    oracle = ModelOracle(model, x, target=1, features=(3, 3), output="logit")
    prob = ModelOracle(model, x, target=1, features=(3, 3), output="prob")
    expected = greedy_order(TraceProblem(prob, "le"), "lerf")
    problem = TraceProblem(oracle, "le-mo")
    r = get_solver("sa", iterations=1, init="greedy-lerf-prob", T0=1e-9).solve(problem, seed=0)
    assert r.info["start"] == "greedy LeRF on softmax probabilities (the paper's start)"
    assert r.history[0][1] == pytest.approx(problem.score(expected), rel=1e-9)
    # the probability passes of the start are this solve's: greedy over 9 features asks
    # 9 + 8 + ... + 2 = 44 sets plus D({}) on the view's own cache; then the initial chain (le-mo, logits)
    greedy_passes = prob.forward_passes - 1  # the probe pass of the separate oracle is not part of it
    assert r.forward_passes >= greedy_passes + 1
    assert oracle.requests == oracle.cache_hits + oracle.forward_passes
    # the logit cache holds no probability: the chain of the result is on logits
    assert r.score == pytest.approx(problem.score(r.trajectory), rel=1e-9)


def test_paper_start_respects_the_budget(model_and_input):
    model, x = model_and_input
    problem = TraceProblem(ModelOracle(model, x, target=1, features=(3, 3)), "le-mo")
    r = get_solver("sa", iterations=50, init="greedy-lerf-prob").solve(problem, budget=28, seed=0)  # 18 held
    assert r.stopped == "budget" and r.forward_passes <= 10 and r.forward_passes + r.evaluation_forward_passes <= 28
    assert sorted(r.trajectory.tolist()) == list(range(9))


def test_paper_start_needs_a_model_oracle():
    oracle = SetFunctionOracle(lambda m: m.sum(axis=1).astype(float), t=5)
    with pytest.raises(ValueError, match="greedy-lerf-prob.*ModelOracle.*greedy-lerf"):
        get_solver("sa", iterations=5, init="greedy-lerf-prob").solve(TraceProblem(oracle, "le"), seed=0)


def test_on_probabilities_the_paper_start_is_greedy_lerf(model_and_input):
    model, x = model_and_input
    problem = TraceProblem(ModelOracle(model, x, target=1, features=(3, 3), output="prob"), "le")
    a = get_solver("sa", iterations=200, init="greedy-lerf-prob").solve(problem, seed=2)
    b = get_solver("sa", iterations=200, init="greedy-lerf").solve(problem, seed=2)
    assert np.array_equal(a.trajectory, b.trajectory) and a.score == b.score


@pytest.mark.parametrize("solver", ["sa", "sa-batch"])
def test_hold_at_threshold_keeps_searching_at_the_threshold_temperature(solver):
    """Cooling from T0 = 2 by eta = 0.5 with a held threshold of 2 keeps T = 2 throughout: the same run,
    move for move, as no cooling at all (eta = 1). The stopping threshold ends the run instead."""
    fn = SyntheticSetFunction(12, seed=5, width=4)
    common = dict(iterations=300, T0=2.0, init="random")
    held = get_solver(solver, eta=0.5, threshold_temperature=2.0, threshold_action="hold", **common).solve(
        TraceProblem(fn.oracle(), "le-mo"), seed=3
    )
    flat = get_solver(solver, eta=1.0, **common).solve(TraceProblem(fn.oracle(), "le-mo"), seed=3)
    stopped = get_solver(solver, eta=0.5, threshold_temperature=2.0, **common).solve(
        TraceProblem(fn.oracle(), "le-mo"), seed=3
    )
    assert held.iterations == flat.iterations == 300 and stopped.iterations == 1
    assert np.array_equal(held.trajectory, flat.trajectory) and held.score == flat.score
    assert [s for _, s in held.history] == [s for _, s in flat.history]


def test_threshold_action_is_validated():
    with pytest.raises(ValueError, match="threshold_action"):
        get_solver("sa", threshold_action="pause")
