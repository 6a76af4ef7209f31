"""Search algorithms over trajectories, behind one interface and budget.

>>> from solvers import get_solver
>>> result = get_solver("sa", iterations=2000).solve(problem, budget=5000, seed=0)
"""
from .base import SOLVERS, Budget, Result, Run, Solver, available_solvers, get_solver, register
from .greedy import Greedy, greedy_order
from .anneal import SimulatedAnnealing

__all__ = ["SOLVERS", "Budget", "Result", "Run", "Solver", "available_solvers", "get_solver", "register",
           "Greedy", "greedy_order", "SimulatedAnnealing"]
