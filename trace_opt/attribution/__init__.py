"""Attribution methods turned into trajectories and scored on the same curves.

Modules: ``baselines`` (Captum methods and RISE behind one registry), ``paper_baselines`` (the paper's IBA,
Extremal Perturbation, Excitation Backprop, pixel RISE), ``ground_truth`` (analytic models whose optimal orders
are known). The paper comparison (TRACE against the baselines, its report and figures) is ``trace_opt.comparison``.
"""
