"""``FaithfulnessTest``: the one interface of a faithfulness test, and the registry of tests.

This module imports no torch (the command line builds its ``--parts`` choices from the registry); the
tests' own modules are imported when a test is looked up (``get_test``).
"""

from __future__ import annotations

import abc
import importlib
import json
from pathlib import Path

from trace_opt.core.io import RecordStore, atomic_write_json
from trace_opt.core.registry import Registry

#: name -> a ``FaithfulnessTest`` subclass, or "module:Class" until its module is imported (``get_test``)
FAITHFULNESS_TESTS: Registry = Registry("faithfulness test")


def register_test(name: str, overwrite: bool = False):
    """``@register_test(name)``: register a ``FaithfulnessTest`` subclass under ``name`` (its ``--parts`` name);
    the report runs the tests in registration order. A built-in test's lazy entry is replaced by its class."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, FaithfulnessTest)):
            raise ValueError(f"a faithfulness test must be a FaithfulnessTest subclass; got {cls!r}")
        lazy = FAITHFULNESS_TESTS.get(name) == f"{cls.__module__}:{cls.__qualname__}"
        FAITHFULNESS_TESTS.add(name, cls, overwrite=overwrite or lazy)
        cls.name = name
        return cls

    return deco


def get_test(name: str) -> type:
    """The registered test class ``name`` (its module imported on first use)."""
    entry = FAITHFULNESS_TESTS.lookup(name)
    if isinstance(entry, str):
        module, _, qualname = entry.partition(":")
        importlib.import_module(module)  # its @register_test replaces the entry by the class
        entry = FAITHFULNESS_TESTS[name]
        if isinstance(entry, str):
            raise ValueError(f"faithfulness test {name!r}: {module} did not register {qualname}")
    return entry


def registered_tests() -> list[str]:
    """The registered tests, in report order (registration order)."""
    return list(FAITHFULNESS_TESTS)


class FaithfulnessTest(abc.ABC):
    """One faithfulness test: ``run`` -> per-input records -> ``summarise`` -> ``markdown`` section.

    A test is built from the explanation settings every TRACE search and baseline of it uses
    (``ExplainSettings``: reference, objective, solver and its options, budget, ``seed``, batch size,
    precision) and its own options (``defaults``, e.g. how many inputs), and owns one folder under the
    report's folder. ``seed`` rule: every input is searched, and every baseline run, with ``seed`` itself, so a
    record depends only on model, input and settings; a random control (a baseline tagged ``random``) draws
    from ``seed`` and the input (``control_seed``), so its orders stay independent across inputs.

    Subclasses set the class attributes and implement the four abstract methods; ``answers`` and ``costs``
    may be overridden to add lines to the report's opening. ``write_faithfulness_report`` calls, per
    registered test, ``load`` -> ``summarise`` -> ``markdown`` / ``answers`` / ``costs``; the command calls
    ``run`` first for the tests named by ``--parts``.
    """

    #: the ``--parts`` name, set by ``register_test``
    name: str = ""
    #: the heading of its report section
    title: str = ""
    #: its folder under the report's folder
    folder: str = ""
    #: its own options and their defaults (beside the explanation settings)
    defaults: dict = {}
    #: which baselines it runs: clauses of ``trace_opt.baselines.baselines_tagged``
    baselines: tuple = ()
    #: where the report stores its summary under ``folder`` (None: not stored)
    summary_file: str | None = None

    def __init__(self, settings=None, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"faithfulness test {self.name!r}: options {unknown} are unknown; expected some of "
                f"{sorted(self.defaults)}"
            )
        if settings is None:
            settings = default_settings()
        check_settings(settings)
        self.settings = settings
        self.options = {**self.defaults, **options}

    # ------------------------------------------------------------------ the four steps
    @abc.abstractmethod
    def run(self, out: Path, progress: bool = True) -> None:
        """Compute what is missing under ``out / self.folder`` and keep each per-input record there
        (``self.store``), so an interrupted run resumes; records of other settings are recomputed."""

    @abc.abstractmethod
    def load(self, out: Path):
        """The finished records under ``out / self.folder`` (of the settings of the last run), or None when
        there is nothing to report (the section then says "Not run.")."""

    @abc.abstractmethod
    def summarise(self, records) -> dict:
        """The test's numbers from its records (a JSON-able dict); ``write_faithfulness_report`` stores it."""

    @abc.abstractmethod
    def markdown(self, summary: dict) -> str:
        """The body of its report section (tables and their notes; the heading is ``title``)."""

    # ------------------------------------------------------------------ optional report lines
    def answers(self, summary: dict, records) -> list[str]:
        """Plain one-line answers (``answer``) for the report's opening; none by default."""
        return []

    def costs(self, summary: dict, records) -> list[str]:
        """One line on the test's n and compute for the report's "n and compute" list; none by default."""
        return []

    # ------------------------------------------------------------------ helpers for subclasses
    def record_settings(self) -> dict:
        """Everything that changes a record: the explanation settings, the options, the baselines run."""
        return {"test": self.name, "explain": settings_dict(self.settings), "options": self.options}

    def store(self, directory: Path, extra: dict | None = None) -> RecordStore:
        """The ``RecordStore`` of this test's records in ``directory``, keyed by ``record_settings`` (plus
        ``extra``); the key is also written to ``directory/settings.json`` so ``load`` reads only the records
        of the last run."""
        settings = {**self.record_settings(), **(extra or {})}
        store = RecordStore(directory, settings)
        atomic_write_json(Path(directory) / "settings.json", {"settings_key": store.settings_key, **settings})
        return store


def settings_dict(settings) -> dict:
    """The explanation settings as plain values (what a record depends on)."""
    return {
        "reference": settings.reference if isinstance(settings.reference, str) else repr(settings.reference),
        "reference_options": settings.reference_options,
        "objective": settings.objective,
        "solver": settings.solver if isinstance(settings.solver, str) else repr(settings.solver),
        "solver_options": settings.solver_options,
        "budget": settings.budget,
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "precision": settings.precision,
    }


#: the explanation settings of the faithfulness tests unless told otherwise (the oracle's batch of 256 as
#: before; every other field is ExplainSettings' default: zeros reference, (Le-Mo), SA, seed 0, fp32, CPU)
DEFAULT_SETTINGS = {"batch_size": 256}


def default_settings():
    # imported here: it loads torch, and this module is imported by the command line's parser (--help stays fast)
    from trace_opt.explanation.settings import ExplainSettings

    return ExplainSettings(**DEFAULT_SETTINGS)


def check_settings(settings) -> None:
    """Refuse what the tests cannot honour: each test fixes its features and outputs, runs on the CPU under
    torch, and needs a seed (records must be reproducible)."""
    fixed = {
        "features": (settings.features, None, "each test fixes its grid (t = 16 patches)"),
        "output": (settings.output, None, "each test fixes the outputs it explains (logit, and prob in metrics)"),
        "device": (str(settings.device), "cpu", "the tests' models run on the CPU"),
        "backend": (settings.backend, "torch", "the baselines need torch's gradients"),
    }
    for name, (value, allowed, why) in fixed.items():
        if value != allowed:
            raise ValueError(f"{name}={value!r} is not valid for the faithfulness tests: {why}; leave it unset")
    if settings.seed is None:
        raise ValueError("seed=None is not valid for the faithfulness tests; expected a seed (records are reused)")


def load_records(directory: Path, pattern: str = "*.json") -> list:
    """The records in ``directory`` matching ``pattern``, in name order; when ``directory/settings.json``
    names the last run's settings, only its records (without it, e.g. records written before the stores,
    every record)."""
    directory = Path(directory)
    key = None
    if (directory / "settings.json").exists():
        key = json.loads((directory / "settings.json").read_text()).get("settings_key")
    out = []
    for path in sorted(directory.glob(pattern)):
        if path.name == "settings.json":
            continue
        rec = json.loads(path.read_text())
        if key is None or rec.get("settings_key") == key:
            out.append(rec)
    return out


__all__ = [
    "FAITHFULNESS_TESTS",
    "FaithfulnessTest",
    "register_test",
    "get_test",
    "registered_tests",
    "load_records",
    "check_settings",
    "default_settings",
    "settings_dict",
]
