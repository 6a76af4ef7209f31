"""The torch-free core: validation, files, set keys, oracles over set functions and tables, the TRACE
problem and its objectives, budgets. Solvers and neighbourhoods depend on nothing else."""
