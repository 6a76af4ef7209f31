"""The attribution comparison: attribution methods turned into trajectories and scored on the same curves.

Modules: ``baselines`` (Captum methods and RISE behind one registry), ``paper_baselines`` (the paper's IBA,
Extremal Perturbation, Excitation Backprop, pixel RISE), ``evaluation`` (TRACE against the baselines per
input, summaries, the randomisation sanity check), ``report`` and ``report_plots`` (the paper's Table 2 and
figures), ``ground_truth`` (analytic models whose optimal orders are known).
"""
