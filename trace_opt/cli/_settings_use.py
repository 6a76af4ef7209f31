"""Which shared explanation flags a command uses: a command that takes ``add_explain_arguments`` but not every
setting (``instances build``, ``instances best-known``) refuses a flag it does not use, rather than ignore it.

``ExplainSettings`` is imported on use: building the parser (``--help``) must not import torch
(tests/test_cli_help.py).
"""

from __future__ import annotations

from trace_opt.cli._args import SETTING_FLAGS


def refuse_unused_settings(args, used, command: str, why: str, defaults: dict | None = None) -> None:
    """A ValueError when a shared explanation flag that ``command`` does not use (not in ``used``) was given a
    value other than its default (``defaults``: the command's own, over ``ExplainSettings``'); ``why`` says
    what fixes that setting there."""
    from trace_opt.explanation.settings import ExplainSettings

    base = {**ExplainSettings().to_dict(), "value": None, "sigma": None, "noise_std": None, **(defaults or {})}
    for name, flag in SETTING_FLAGS.items():
        if name in used or not hasattr(args, name):
            continue
        value = getattr(args, name)
        if value == base.get(name) or (name == "solver_options" and not value):
            continue
        raise ValueError(f"{flag} does not apply to {command}: {why}")
