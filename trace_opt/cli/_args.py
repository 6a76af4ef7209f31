"""Argument types and helpers shared by the commands (argparse ``type=`` callables that name what they accept)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys

import numpy as np


def int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_above(minimum: float):
    """An argparse type: a finite number > ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number > {minimum}; got {text!r}") from None
        if not np.isfinite(value) or value <= minimum:
            raise argparse.ArgumentTypeError(f"expected a finite number > {minimum}; got {text}")
        return value
    parse.__name__ = f"number > {minimum}"
    return parse


def json_object(name: str):
    """An argparse type: a JSON object (dict), e.g. a solver's options."""
    def parse(text: str) -> dict:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"iterations\": 2000}}'; "
                                             f"could not parse {text!r}: {exc}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"iterations\": 2000}}'; got "
                                             f"{type(value).__name__} {text}")
        return value
    parse.__name__ = f"{name} JSON object"
    return parse


def command_line(args) -> str:
    """The command as run: ``python -m trace_opt`` and the arguments ``main`` was given."""
    return "python -m trace_opt " + shlex.join(getattr(args, "argv", sys.argv[1:]))
