"""The benchmark library: problems frozen into 2^t tables with exact optima, and the studies run on them.

Modules: ``instances`` (tables, libraries, leaderboards), ``families`` (seeded synthetic families with a
difficulty knob), ``model_sources`` (the models an instance can be built from, the XOR-digits CNN),
``difficulty`` (difficulty measures), ``best_known`` (best-known solutions beyond tables), ``tuning``
(Optuna studies of solvers), ``margin`` (how far the optimum is above the best ranking).
"""
