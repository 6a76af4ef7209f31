"""Argument types and helpers shared by the commands (argparse ``type=`` callables that name what they accept)."""

# The library (torch, the settings, the oracles) is imported inside the helpers that build settings or move a
# model, not here: every command's parser is built from this module and ``--help`` stays torch-free and fast
# (tests/test_cli_help.py).
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys


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
        if not math.isfinite(value) or value <= minimum:
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
            raise argparse.ArgumentTypeError(
                f"expected a JSON object such as '{{\"iterations\": 2000}}'; could not parse {text!r}: {exc}"
            ) from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(
                f"expected a JSON object such as '{{\"iterations\": 2000}}'; got {type(value).__name__} {text}"
            )
        return value

    parse.__name__ = f"{name} JSON object"
    return parse


def command_line(args) -> str:
    """The command as run: ``python -m trace_opt`` and the arguments ``main`` was given."""
    return "python -m trace_opt " + shlex.join(getattr(args, "argv", sys.argv[1:]))


# --------------------------------------------------------------------------- the explanation settings
#: the command-line flag of each ``ExplainSettings`` field (reference options included)
SETTING_FLAGS = {
    "features": "--features",
    "reference": "--reference",
    "value": "--reference-value",
    "sigma": "--sigma",
    "noise_std": "--noise-std",
    "output": "--output",
    "objective": "--objective",
    "solver": "--solver",
    "solver_options": "--solver-options",
    "budget": "--budget",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "device": "--device",
    "precision": "--precision",
    "backend": "--backend",
    "threads": "--threads",
    "heatmap_alpha": "--heatmap-alpha",
}


def grid_size(text: str):
    """An argparse type: a grid ``G`` (G x G patches) or ``RxC``."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a grid size G or RxC (e.g. 7 or 4x8); got {text!r}") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a grid size G or RxC with positive sizes; got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


def add_explain_arguments(p, *, defaults: dict | None = None, features_help: str | None = None) -> None:
    """The flags of ``ExplainSettings`` (``trace_opt.explanation.settings``), the same name, meaning and check in
    every command that explains; ``defaults`` overrides a command's defaults (e.g. ``{"budget": 2000}``).
    ``explain_settings(args)`` builds the settings from them. Nothing heavy is imported here (``--help`` stays
    fast): solver names, devices and the rest are checked when the settings are built, before any work."""
    d = {
        "features": None,
        "reference": "zeros",
        "output": None,
        "objective": "le-mo",
        "solver": "sa",
        "budget": None,
        "seed": 0,
        "batch_size": 64,
        "device": "cpu",
        "precision": "fp32",
        "backend": "torch",
        "threads": 1,
        "heatmap_alpha": 1.0,
        **(defaults or {}),
    }
    g = p.add_argument_group("explanation settings (trace_opt.ExplainSettings)")
    _add_input_flags(g, d, features_help)
    _add_objective_flags(g, d)
    _add_search_flags(g, d)
    _add_run_flags(g, d)


def _add_input_flags(g, d: dict, features_help: str | None) -> None:
    """--features and the reference with its options."""
    g.add_argument(
        "--features",
        type=grid_size,
        default=d["features"],
        metavar="G",
        help=features_help
        or "a G x G (or RxC) grid of patches for images; default: 4 x 4, or one feature per column of a 1-D row"
        + _default(d["features"]),
    )
    g.add_argument(
        "--reference",
        default=d["reference"],
        help="what deletion writes: zeros, constant, mean, channel_mean, patch_mean, blur, noise, "
        "paper_blur, paper_patch_mean (the authors' blur and patch mean)" + _default(d["reference"]),
    )
    g.add_argument(
        "--reference-value",
        dest="value",
        type=float,
        default=None,
        metavar="V",
        help="the constant of --reference constant (default: 0)",
    )
    g.add_argument(
        "--sigma", type=float_above(0), default=None, help="blur std in pixels of --reference blur (default: 2)"
    )
    g.add_argument(
        "--noise-std", type=float_above(0), default=None, help="std of --reference noise (default: the input's std)"
    )


def _add_objective_flags(g, d: dict) -> None:
    """--output and --objective: what is explained."""
    g.add_argument(
        "--output",
        default=d["output"],
        choices=["logit", "prob", "log_prob"],
        help="the model output explained (default: logit)",
    )
    g.add_argument(
        "--objective",
        default=d["objective"],
        choices=["le", "mo", "le-mo"],
        help="LeRF, MoRF or both (the paper's default)" + _default(d["objective"]),
    )


def _add_search_flags(g, d: dict) -> None:
    """--solver, --solver-options, --budget and --seed: the search."""
    g.add_argument(
        "--solver",
        default=d["solver"],
        help="a registered solver: greedy, sa, sa-batch, tabu, ga, beam, window-dp, ils, exact, surrogate, ..."
        + _default(d["solver"]),
    )
    g.add_argument(
        "--solver-options",
        type=json_object("--solver-options"),
        default=None,
        metavar="JSON",
        help="the solver's hyperparameters as a JSON object, e.g. '{\"window\": 6}' (default: none)",
    )
    g.add_argument(
        "--budget",
        type=int_at_least(1),
        default=d["budget"],
        metavar="FP",
        help="forward passes per explanation, a hard limit of the search"
        + (" (default: no limit)" if d["budget"] is None else _default(d["budget"])),
    )
    g.add_argument(
        "--seed",
        type=int_at_least(0),
        default=d["seed"],
        help="seed of the search (and of a noise reference), the same for every input of a batch; it never "
        "retrains a model or re-splits data (--data-seed, --model-seed)" + _default(d["seed"]),
    )


def _add_run_flags(g, d: dict) -> None:
    """--batch-size, --device, --precision, --backend, --threads and --heatmap-alpha: how it runs and is shown."""
    g.add_argument(
        "--batch-size",
        type=int_at_least(1),
        default=d["batch_size"],
        metavar="B",
        help="masked inputs per model call" + _default(d["batch_size"]),
    )
    g.add_argument(
        "--device", default=d["device"], help="where the model runs: cpu, cuda, cuda:N" + _default(d["device"])
    )
    g.add_argument(
        "--precision",
        default=d["precision"],
        choices=["fp32", "tf32", "bf16", "fp16"],
        help="arithmetic of the search's forward passes; values reported are re-scored in fp32"
        + _default(d["precision"]),
    )
    g.add_argument(
        "--backend",
        default=d["backend"],
        choices=["torch", "onnxruntime"],
        help="what runs a torch model's forward passes: torch, or onnxruntime (the [onnx] extra; "
        "exported once and checked against torch; CPU, fp32; ~2x torch's passes/s on "
        "EfficientNet-Lite0 here)" + _default(d["backend"]),
    )
    g.add_argument(
        "--threads",
        type=int_at_least(1),
        default=d["threads"],
        metavar="N",
        help="torch intra-op threads per explanation" + _default(d["threads"]),
    )
    g.add_argument(
        "--heatmap-alpha",
        type=float_above(0),
        default=d["heatmap_alpha"],
        metavar="A",
        help="heatmap exponent: ((rank + 1) / t) ** A" + _default(d["heatmap_alpha"]),
    )


def _default(value) -> str:
    return f" (default: {value})"


def add_data_seed_arguments(p, *, what: str = "the bundled model") -> None:
    """``--data-seed`` and ``--model-seed``: the split of a bundled data set and the weights of a bundled model
    (``trace_opt.models.data``), the one pair of names every command uses for them; ``--seed`` is the search's."""
    p.add_argument(
        "--data-seed",
        type=int_at_least(0),
        default=0,
        metavar="S",
        help="the train/test split of a bundled data set (digits, breast cancer) whose test inputs are "
        "explained (default: 0)",
    )
    p.add_argument(
        "--model-seed",
        type=int_at_least(0),
        default=0,
        metavar="S",
        help=f"the weights of {what} (digits CNNs, breast-cancer MLP; trained on the split of the same seed); "
        "0: the shipped weights, another seed trains them on this machine once (default: 0)",
    )


def add_progress_argument(p) -> None:
    """``--no-progress``: the one flag name every command uses to hide its progress bars."""
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars (stderr)")


def explain_settings(args, **overrides):
    """The ``ExplainSettings`` of the flags added by ``add_explain_arguments`` (checked: a ValueError names
    the setting); ``overrides`` replace flag values (e.g. a solver instance)."""
    from trace_opt.explanation.settings import ExplainSettings

    keywords = {name: getattr(args, name) for name in SETTING_FLAGS if hasattr(args, name)}
    keywords["progress"] = not getattr(args, "no_progress", True)
    keywords.update(overrides)
    try:
        return ExplainSettings.from_keywords(**keywords)
    except ValueError as exc:  # name the flag, not the keyword
        message = str(exc)
        for name, flag in SETTING_FLAGS.items():
            message = message.replace(f"{name}=", f"{flag} ", 1) if message.startswith(f"{name}=") else message
        raise ValueError(message) from None


def on_device(model, settings):
    """A torch model moved to ``settings.device`` (the oracle expects it there); a callable as it is."""
    import torch

    from trace_opt.models.oracles import as_device

    device = as_device(settings.device)  # a device this machine lacks is refused here, before any work
    return model.to(device) if isinstance(model, torch.nn.Module) else model
