"""``faithfulness``: the registered faithfulness tests (``trace_opt.faithfulness``: TPN / TPS, Quantus' ROAD and
correlations, the model-in-the-loop null / saturation tests, ROAR on the digits8 CNN, BAM on digits pasted on
textures); resumable, writes OUT/report.md. Explanation settings from the shared flags (``ExplainSettings``), the
tests' own settings beside them."""

from __future__ import annotations

import warnings
from pathlib import Path

from trace_opt.cli._args import (
    SETTING_FLAGS,
    add_explain_arguments,
    add_progress_argument,
    command_line,
    explain_settings,
    int_at_least,
)
from trace_opt.core.io import check_output_dir
from trace_opt.faithfulness import get_test, registered_tests

#: the flags of the tests' own options: test -> option -> (flag, minimum, help); the other options keep their
#: defaults (``FaithfulnessTest.defaults``)
TEST_FLAGS = {
    "metrics": {
        "n": ("--n", 1, "inputs for the per-input metrics (default 50)"),
        "sa_iterations": ("--sa-iterations", 1, "SA iterations K of the TRACE runs of the metrics (default: 2000)"),
    },
    "model-tests": {
        "n": ("--n-model-tests", 3, "generated samples per model test (default 30)"),
        "sa_iterations": ("--model-tests-sa-iterations", 1, "SA K of TRACE in the model tests (default 1000)"),
    },
    "roar": {
        "sa_iterations": ("--roar-sa-iterations", 1, "SA K of TRACE's orders in ROAR (default 300)"),
        "epochs": ("--roar-epochs", 1, "epochs of each ROAR retraining (default 15)"),
    },
    "bam": {
        "n": ("--n-bam", 2, "inputs per BAM test (default 50)"),
        "sa_iterations": ("--bam-sa-iterations", 1, "SA K of TRACE in BAM (default 500)"),
    },
}
#: options every test that has them takes from one flag
SHARED_FLAGS = {
    "data_seed": ("--data-seed", 0, "the data split (and BAM's images built from it); never the search (default 0)"),
    "model_seed": (
        "--model-seed",
        0,
        "the models' weights (0: the shipped digits8 weights); never the search (default 0)",
    ),
}


def _dest(test: str, option: str) -> str:
    return f"test_{test.replace('-', '_')}_{option}"


def add_faithfulness_parser(sub) -> None:
    """The ``faithfulness`` subcommand: ``--parts`` lists the registered tests."""
    tests = registered_tests()
    p = sub.add_parser(
        "faithfulness",
        help="faithfulness tests outside the optimised deletion curves (digits8)",
        description="Runs the tests named by --parts (resuming from OUT's records) and writes OUT/report.md.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("reports/faithfulness"),
        metavar="DIR",
        help="output folder; reruns resume from its records (default: reports/faithfulness)",
    )
    p.add_argument(
        "--parts",
        nargs="+",
        default=tests,
        choices=[*tests, "report"],
        help=f"the tests run (default: {' '.join(tests)}; the report is written after any)",
    )
    g = p.add_argument_group("the tests' own settings")
    for test, flags in TEST_FLAGS.items():
        for option, (flag, minimum, text) in flags.items():
            g.add_argument(
                flag, dest=_dest(test, option), type=int_at_least(minimum), default=None, metavar="N", help=text
            )
    for option, (flag, minimum, text) in SHARED_FLAGS.items():
        g.add_argument(flag, dest=option, type=int_at_least(minimum), default=None, metavar="S", help=text)
    add_explain_arguments(
        p,
        defaults={"batch_size": 256},
        features_help="not used: each test fixes its grid (4 x 4 patches, t = 16); refused when given",
    )
    add_progress_argument(p)
    p.set_defaults(func=run)


def options_of(args, test_cls) -> dict:
    """The options of one test given on the command line (the others keep the test's defaults)."""
    options = {}
    for option in test_cls.defaults:
        value = getattr(args, _dest(test_cls.name, option), None)
        if value is None and option in SHARED_FLAGS:
            value = getattr(args, option, None)
        if value is not None:
            options[option] = value
    return options


def run(args) -> int:
    # imported here: they load torch, and building the parser (--help) must not
    from trace_opt.faithfulness.report import write_faithfulness_report
    from trace_opt.models.data import load_digits_split

    settings = explain_settings(args)  # a setting the tests cannot honour is refused before any work
    tests = {name: get_test(name) for name in registered_tests()}
    try:
        built = {name: cls(settings, **options_of(args, cls)) for name, cls in tests.items()}
    except ValueError as exc:  # name the flag, not the setting
        message = str(exc)
        for name, flag in SETTING_FLAGS.items():
            if message.startswith(f"{name}="):
                message = message.replace(f"{name}=", f"{flag} ", 1)
        raise ValueError(message) from None
    check_output_dir("--out", args.out)  # a file or an unwritable place is refused before any work
    if "metrics" in args.parts:
        n_test = len(load_digits_split(8, data_seed=built["metrics"].options["data_seed"])[1])
        n = built["metrics"].options["n"]
        if n > n_test:
            raise ValueError(f"--n {n} is more than the {n_test} digits8 test inputs; expected 1..{n_test}")
    if args.parts == ["report"] and not any((args.out / t.folder).is_dir() for t in built.values()):
        raise ValueError(
            f"--parts report: {str(args.out)!r} holds no finished part to report "
            f"({', '.join(t.folder for t in built.values())}); run the parts first (the default --parts)"
        )
    warnings.filterwarnings("ignore", module=r"quantus\..*")
    for name, test in built.items():
        if name in args.parts:
            test.run(args.out, progress=not args.no_progress)
    options = {name: test.options for name, test in built.items()}
    write_faithfulness_report(args.out, command_line(args), settings=settings, options=options)
    return 0
