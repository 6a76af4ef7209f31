"""Faithfulness tests outside the metric TRACE optimises: does TRACE's order still beat the attribution methods
when the test is not the deletion curve it maximised? (the ``faithfulness`` command, ``reports/faithfulness``).

Each test is one module behind ``base.FaithfulnessTest`` (run -> per-input records -> summary -> markdown
section), registered in ``FAITHFULNESS_TESTS``: ``metrics`` (TPN / TPS, Quantus' ROAD and correlations, per
input), ``model_tests`` (null feature and saturation), ``roar`` (remove and retrain), ``bam`` (BAM's MCS / IDR /
IIR); ``report`` writes ``report.md`` from every registered test. Helpers: ``proportionality`` (TPN / TPS),
``road`` (Quantus), ``common`` (the settings' search, oracle and seeds); ``ground_truth``: analytic models whose
optimal orders are known (its own report).

How to add a test: subclass ``FaithfulnessTest`` in a module of its own (set ``title``, ``folder``, ``defaults``,
``baselines`` (tag clauses of ``trace_opt.baselines.baselines_tagged``); implement ``run`` (keep each per-input
record with ``self.store(...)``, a ``RecordStore``), ``load``, ``summarise``, ``markdown``; optionally ``answers``
and ``costs``), decorate it with ``@register_test("name")`` and, for a built-in one, add its "module:Class" to
``_BUILT_IN`` below (so the command line lists it without importing torch). ``--parts name`` then runs it and the
report gets its section; options get command-line flags in ``trace_opt/cli/faithfulness.py`` (optional).
"""

from trace_opt.faithfulness.base import (
    FAITHFULNESS_TESTS,
    FaithfulnessTest,
    get_test,
    load_records,
    register_test,
    registered_tests,
)

#: the built-in tests in report order, registered lazily (their modules load torch)
_BUILT_IN = {
    "metrics": "trace_opt.faithfulness.metrics:PerInputMetrics",
    "model-tests": "trace_opt.faithfulness.model_tests:ModelTests",
    "roar": "trace_opt.faithfulness.roar:Roar",
    "bam": "trace_opt.faithfulness.bam:Bam",
}
for _name, _where in _BUILT_IN.items():
    if _name not in FAITHFULNESS_TESTS:
        FAITHFULNESS_TESTS.add(_name, _where)

__all__ = [
    "FAITHFULNESS_TESTS",
    "FaithfulnessTest",
    "register_test",
    "get_test",
    "registered_tests",
    "load_records",
]
