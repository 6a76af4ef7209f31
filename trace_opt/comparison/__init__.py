"""The paper comparison: TRACE against attribution baselines on the same deletion curves (the paper's Table 2,
Figs 3-7, Appendices B and I), written as a report folder by the ``evaluate`` command.

Modules: ``evaluation`` (the study's settings, ``EvaluationConfig``, beside one ``ExplainSettings``; TRACE against
the baselines per input, kept in a ``RecordStore``; summaries; the randomisation sanity check), ``report`` (a data
set or your own model to ``report.md`` and ``results.json``), ``report_plots`` (its figures), ``known_tables``
(complete D tables computed earlier, reused instead of 2^t forward passes).
"""
