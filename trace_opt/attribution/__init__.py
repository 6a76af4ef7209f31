"""The attribution comparison: attribution methods turned into trajectories and scored on the same curves.

The baselines live in ``trace_opt.baselines``, the faithfulness tests in ``trace_opt.faithfulness``.
Modules: ``evaluation`` (TRACE against the baselines per
input, summaries, the randomisation sanity check), ``report`` and ``report_plots`` (the paper's Table 2 and
figures).
"""
