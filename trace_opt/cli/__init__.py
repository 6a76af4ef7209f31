"""The command line: ``python -m trace_opt COMMAND`` (also the ``trace-opt`` console script).

One module per command: ``demo``, ``explain``, ``evaluate``, ``instances`` (build, leaderboard, verify, generate,
stats, best-known), ``tune``, ``explain-dataset``, ``faithfulness``; ``_args`` holds the argument types they share.
Every argument is checked before any work; a bad value ends the command with status 2 and a message naming it.
Ctrl-C ends a batch command with status 130, keeping finished work (``trace_opt.core.io.stop_on_interrupt``);
SIGTERM is handled the same way (status 143), worker processes included: they are stopped, and they end by
themselves if their command is killed outright (SIGKILL).
"""

# Every command module is torch-free at import (each imports the library inside the function that runs it), so
# they are imported here and ``--help`` stays fast (tests/test_cli_help.py).
from __future__ import annotations

import argparse
import signal
import sys
import threading

from trace_opt import __version__
from trace_opt.cli.demo import add_demo_parser
from trace_opt.cli.evaluate import add_evaluate_parser
from trace_opt.cli.explain import add_explain_parser
from trace_opt.cli.explain_dataset import add_explain_dataset_parser
from trace_opt.cli.faithfulness import add_faithfulness_parser
from trace_opt.cli.instances import add_instances_parser
from trace_opt.cli.tune import add_tune_parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(prog="trace-opt", description="Explain neural networks by trajectories (TRACE).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_demo_parser(sub)
    add_explain_parser(sub)
    add_evaluate_parser(sub)
    add_instances_parser(sub)
    add_tune_parser(sub)
    add_explain_dataset_parser(sub)
    add_faithfulness_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be so that the interruption rule applies to it as well."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> int:
    """Run the command of ``argv`` (default: ``sys.argv[1:]``); returns its exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.argv = argv
    previous = None
    if threading.current_thread() is threading.main_thread():  # a signal handler can only be set there
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except ValueError as exc:  # invalid settings found past argparse (e.g. by the library's checks)
        parser.exit(2, f"{parser.prog} {args.command}: error: {exc}\n")
    except (
        KeyboardInterrupt
    ) as exc:  # the interruption rule (trace_opt.core.io.stop_on_interrupt): finished work is kept
        how, status = ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        parser.exit(
            status,
            f"{parser.prog} {args.command}: {how}; finished work is kept, nothing cut short "
            "was stored as finished: run the same command again to complete it\n",
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
