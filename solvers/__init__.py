"""Search algorithms over trajectories, behind one interface and budget.

>>> from solvers import get_solver
>>> result = get_solver("sa", iterations=2000).solve(problem, budget=5000, seed=0)

Layer: solvers see only ``trace_opt.core`` (the problem, its objective, oracles, budgets) and
``neighbourhoods``, never torch. ``base`` holds the interface, registry and the ``Run`` of one solve;
``_common`` the helpers several solvers share (starts, exact window moves, polishing); ``complete`` the
2^t table, exact optimum and complete-search bounds; ``kernels`` their numba kernels.
"""

from ._common import describe_start, initial_trajectory, window_descent, window_move
from .anneal import SimulatedAnnealing
from .anneal_batch import SpeculativeAnnealing
from .base import SOLVERS, Budget, Result, Run, Solver, available_solvers, get_solver, register
from .beam import BeamSearch
from .complete import complete_table, cs_bounds, exact_optimum, gap_report
from .exact import Exact
from .genetic import GeneticAlgorithm
from .greedy import Greedy, greedy_order
from .surrogate import SurrogateSearch
from .tabu import TabuSearch
from .window import IteratedLocalSearch, WindowDP

__all__ = [
    "SOLVERS",
    "Budget",
    "Result",
    "Run",
    "Solver",
    "available_solvers",
    "get_solver",
    "register",
    "Greedy",
    "greedy_order",
    "SimulatedAnnealing",
    "SpeculativeAnnealing",
    "TabuSearch",
    "GeneticAlgorithm",
    "BeamSearch",
    "WindowDP",
    "IteratedLocalSearch",
    "SurrogateSearch",
    "describe_start",
    "initial_trajectory",
    "window_descent",
    "window_move",
    "Exact",
    "complete_table",
    "cs_bounds",
    "exact_optimum",
    "gap_report",
]
