"""The ``explain`` command: one input, one explanation, written as JSON and figures.

``python -m trace_opt explain --model efficientnet-lite0 --image chelsea --features 7 --budget 2000 --out DIR``
explains a photo (a bundled name or a PNG/JPEG file, resized and normalised as the model expects), one input
of a data set (``--data NAME|NPY --index I``) or a sentence for a text model (``--model vader --text "..."``:
one feature per word, a deleted word dropped or replaced by ``--mask-token``), and writes
``DIR/explanation.json`` (target and its name, value, forward passes, trajectory, curves, settings) and its
figures: the input with the trajectory heatmap (on the original photo for ``--image``; the ranked sentence for
``--text``), the deletion sequence and the curves. The budget is a hard limit on the forward passes (search
and final scoring); a progress bar shows passes and the best value.
"""

# The library (torch, matplotlib, the models) is imported inside the functions that run the command, not here:
# building the parser must stay torch-free so that ``--help`` is fast (tests/test_cli_help.py).
from __future__ import annotations

import time
from pathlib import Path

from trace_opt.cli._args import (
    add_data_seed_arguments,
    add_explain_arguments,
    add_progress_argument,
    explain_settings,
    int_at_least,
    on_device,
)
from trace_opt.cli._choices import TEXT_MODELS
from trace_opt.core.io import check_output_dir

#: the explain command's budget by default: a model costing ~45 ms a pass on a CPU (EfficientNet-Lite0 at
#: 224 px) explains in about 1.5 minutes
DEFAULT_BUDGET = 2000
#: masked inputs per model call by default: EfficientNet-Lite0 on one CPU thread runs more passes per second at
#: batch 16 than at 64 (bench/results/imagenet-cpu.md)
DEFAULT_BATCH = 16
#: the search by default: ``ils`` (a lazy greedy start, its MoRF end rebuilt, exact window moves), chosen on the
#: real network, EfficientNet-Lite0 at t = 49 (bench/results/imagenet_search_g7_logit.md: above greedy's full
#: run with 2,000 passes on the photos of that study); the library's own default stays the paper's SA
DEFAULT_SOLVER = "ils"


def add_explain_parser(sub) -> None:
    """The ``explain`` subcommand."""
    p = sub.add_parser(
        "explain",
        help="explain one input (a photo or a data set's row); write JSON + figures",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    p.add_argument(
        "--model",
        default="efficientnet-lite0",
        help="efficientnet-lite0 (ImageNet), digits-cnn8, digits-cnn28, breast-cancer-mlp, a file "
        "saved with torch.save(module) / TorchScript, or a text model for --text: vader (VADER sentiment, "
        "its compound polarity), langid (fastText language identification: the probability of the text's "
        "language) (default: efficientnet-lite0)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--image",
        default=None,
        metavar="NAME|FILE",
        help="a bundled photo (chelsea, coffee, astronaut, rocket, motorcycle_left, motorcycle_right, "
        "china, flower, ...) or a PNG/JPEG file, resized to 224 x 224 (default: chelsea with "
        "an ImageNet model)",
    )
    src.add_argument(
        "--data",
        default=None,
        metavar="NAME|NPY",
        help="instead of --image: a bundled data set (digits8-test, digits28-test, breast-cancer-test, "
        "imagenet-photos) or a .npy file of inputs along axis 0; --index picks the input",
    )
    _add_text_arguments(p, src)
    p.add_argument(
        "--index", type=int_at_least(0), default=None, metavar="I", help="with --data: the input (default: 0)"
    )
    p.add_argument(
        "--target",
        type=int_at_least(0),
        default=None,
        help="the class explained (default: the model's predicted class)",
    )
    p.add_argument(
        "--superpixels",
        default=None,
        choices=["slic", "felzenszwalb"],
        help="with --image: superpixel features from scikit-image instead of the grid; --features G "
        "then asks for about G x G segments",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/explain"),
        metavar="DIR",
        help="output folder (created if missing; default: runs/explain)",
    )
    add_explain_arguments(
        p,
        defaults={
            "budget": DEFAULT_BUDGET,
            "reference": "paper_blur",
            "batch_size": DEFAULT_BATCH,
            "solver": DEFAULT_SOLVER,
        },
        features_help="a G x G (or RxC) grid of patches (default: 7 x 7 for photos, as the paper; "
        "4 x 4 for other images; one feature per column of a 1-D row)",
    )
    add_data_seed_arguments(p)
    add_progress_argument(p)
    p.set_defaults(func=run_explain)


def _add_text_arguments(p, sources) -> None:
    """--text (one of the input sources) and --mask-token."""
    sources.add_argument(
        "--text",
        default=None,
        metavar="TEXT",
        help="instead of --image: a sentence for a text model (--model vader or langid); one feature per "
        "whitespace-separated word",
    )
    p.add_argument(
        "--mask-token",
        default=None,
        metavar="TOKEN",
        help="with --text: what replaces a deleted word (default: the word is dropped)",
    )


def _input(args, model, default_data):
    """``(x, photo or None, description)`` of the input named by --image / --data / --index."""
    from trace_opt.models.data import load_inputs
    from trace_opt.models.photos import load_photo_input

    image = args.image
    if image is not None and args.index is not None:
        raise ValueError(
            "--index picks a row of --data; --image names one photo already (drop --index, or use "
            "--data FOLDER --index I for the I-th photo of a folder)"
        )
    index = 0 if args.index is None else args.index
    if image is None and args.data is None:
        if default_data != "imagenet-photos" and default_data is not None:
            X = load_inputs(default_data, data_seed=args.data_seed)
            return _row(X, index, default_data)
        image = "chelsea"
    if image is not None:  # resized to 224 x 224 with ImageNet's normalisation (what an ImageNet model expects)
        if args.data_seed:
            raise ValueError(f"--data-seed {args.data_seed} chooses a bundled data set's split; a photo has none")
        photo, x = load_photo_input(image)
        return x, photo, {"image": str(image), "photo_shape": list(photo.shape)}
    return _row(load_inputs(args.data, data_seed=args.data_seed), index, args.data)


def _row(X, index: int, name: str):
    if index >= len(X):
        raise ValueError(f"--index {index} is out of range: {name} holds {len(X)} inputs")
    return X[index], None, {"data": str(name), "index": int(index)}


def _reference_for(args, settings, x):
    """The paper's blur by default; a 1-D row (a table's) has no image to blur, so without an explicit
    --reference it is deleted to zeros."""
    explicit = any(a == "--reference" or a.startswith("--reference=") for a in (getattr(args, "argv", None) or []))
    if not explicit and getattr(x, "ndim", 2) < 2 and str(settings.reference).startswith("paper_"):
        return settings.replace(reference="zeros")
    return settings


def _features(args, settings, x, photo):
    """The settings' features: a grid (default 7 x 7 for a photo), or superpixels of the photo."""
    if args.superpixels is None:
        if settings.features is None and photo is not None:
            return settings.replace(features=7)
        return settings
    if photo is None:
        raise ValueError("--superpixels needs --image (superpixels are computed on the photo)")
    from trace_opt.core.features import superpixel_features

    g = settings.features if settings.features is not None else 7
    n = g[0] * g[1] if isinstance(g, tuple) else g * g
    return settings.replace(
        features=superpixel_features(photo, n_segments=n, method=args.superpixels, shape=tuple(x.shape[-2:]))
    )


def run_explain(args) -> int:
    """The ``explain`` command: settings from the flags (every one checked before any work), the model and
    input, one explanation, its figures, and ``explanation.json`` written by the ``Explanation`` itself."""
    from trace_opt.explanation.explainer import Explainer
    from trace_opt.models.data import load_model

    settings = explain_settings(args)  # every flag checked before any work
    if args.text is not None or args.model in TEXT_MODELS:
        return _run_text(args, settings)
    if args.mask_token is not None:
        raise ValueError("--mask-token replaces deleted words of --text; this input has none")
    if args.superpixels is not None and args.image is None:
        raise ValueError("--superpixels needs --image (superpixels are computed on the photo)")
    out = check_output_dir("--out", args.out)
    start = time.perf_counter()
    model, default_data = load_model(args.model, model_seed=args.model_seed)
    model = on_device(model, settings)
    x, photo, source = _input(args, model, default_data)
    settings = _reference_for(args, settings, x)
    settings = _features(args, settings, x, photo)
    exp = Explainer(model, settings).explain(x, args.target)
    seconds = time.perf_counter() - start
    names = getattr(model, "class_names", None)
    target_name = names[exp.target] if names is not None and exp.target is not None else None
    out = check_output_dir("--out", out, create=True)
    what = f"class {exp.target}" + (f" ({target_name})" if target_name else "")
    title = f"{args.model}: {what}, TRACE-{settings.objective} on {exp.output}, t = {exp.oracle.t}"
    figures = _write_figures(exp, photo, settings, out, title)
    exp.save(
        out / "explanation.json",
        heatmap=False,
        context=_context(args, settings, exp, source, target_name, seconds, figures),
    )
    result = exp.result
    print(
        f"{what}: value {exp.value:.4g} (AUC-Le {exp.curves.auc_le:.4g}, AUC-Mo {exp.curves.auc_mo:.4g}) after "
        f"{result.forward_passes:,} search passes ({result.stopped}), {seconds:.1f} s; wrote {out}/explanation.json "
        "and " + ", ".join(figures.values())
    )
    return 130 if result.stopped == "interrupted" else 0


def _run_text(args, settings) -> int:
    """The explain command on a sentence: one feature per word, deletion drops it (or writes --mask-token);
    writes explanation.json, the ranked sentence (text.png) and the curves."""
    import matplotlib.pyplot as plt
    import numpy as np

    from trace_opt.core.features import tabular_features
    from trace_opt.explanation.explainer import Explainer
    from trace_opt.explanation.plots import plot_curves
    from trace_opt.explanation.text import plot_text
    from trace_opt.models.text import TextBlackBox, text_model, tokenize

    if args.text is None:
        raise ValueError(f"--model {args.model} explains a sentence: give it with --text")
    if args.model not in TEXT_MODELS:
        raise ValueError(f"--text needs a text model: --model {' or '.join(TEXT_MODELS)}; got {args.model!r}")
    others = (("--superpixels", args.superpixels), ("--index", args.index), ("--data-seed", args.data_seed))
    for flag, value in others:
        if value:
            raise ValueError(f"{flag} does not apply to --text")
    out = check_output_dir("--out", args.out)
    start = time.perf_counter()
    tokens = tokenize(args.text)
    box = TextBlackBox(text_model(args.model), tokens, args.mask_token)
    settings = settings.replace(features=tabular_features(len(tokens), names=tokens), reference="zeros")
    exp = Explainer(box, settings).explain(np.ones(len(tokens)), args.target)
    seconds = time.perf_counter() - start
    out = check_output_dir("--out", out, create=True)
    figures = {"text": "text.png", "curves": "curves.png"}
    title = f"{args.model}: TRACE-{settings.objective}, t = {len(tokens)} words"
    plt.close(plot_text(exp, out / figures["text"]))
    plt.close(plot_curves(exp, path=out / figures["curves"], title=title))
    source = {"text": args.text, "tokens": tokens, "mask_token": args.mask_token}
    context = _context(args, settings, exp, source, None, seconds, figures)
    context["settings"]["features"] = f"one per word ({len(tokens)})"
    exp.save(out / "explanation.json", heatmap=False, context=context)
    order = ", ".join(tokens[i] for i in exp.trajectory[::-1][:5])
    print(
        f"{args.model} on {len(tokens)} words: value {exp.value:.4g} after {exp.result.forward_passes:,} search "
        f"passes ({exp.result.stopped}), {seconds:.1f} s; most important first: {order}; wrote "
        f"{out}/explanation.json, text.png, curves.png"
    )
    return 130 if exp.result.stopped == "interrupted" else 0


def _write_figures(exp, photo, settings, out: Path, title: str) -> dict:
    """The figures (on the original photo for ``--image``; bars for a table's row): ``{kind: file name}``."""
    import matplotlib.pyplot as plt

    from trace_opt.explanation.photo_plots import plot_photo_deletion_sequence, plot_photo_heatmap
    from trace_opt.explanation.plots import plot_curves, plot_deletion_sequence, plot_overlay, plot_row

    figures = {"overlay": "overlay.png", "deletion_sequence": "deletion_sequence.png", "curves": "curves.png"}
    if photo is not None:
        alpha, path = settings.heatmap_alpha, out / figures["overlay"]
        plt.close(plot_photo_heatmap(photo, exp.features, exp.trajectory, alpha=alpha, path=path, title=title))
        plt.close(plot_photo_deletion_sequence(exp, photo, path=out / figures["deletion_sequence"]))
    elif exp.oracle.x.ndim < 2:  # a table's row: its features as bars (no image to overlay)
        figures = {"features": "features.png", "curves": "curves.png"}
        plt.close(plot_row(exp, path=out / figures["features"]))
    else:
        plt.close(plot_overlay(exp, path=out / figures["overlay"], title=title))
        plt.close(plot_deletion_sequence(exp, path=out / figures["deletion_sequence"]))
    plt.close(plot_curves(exp, path=out / figures["curves"], title=title))
    return figures


def _context(args, settings, exp, source: dict, target_name, seconds: float, figures: dict) -> dict:
    """What produced the explanation, saved beside it in explanation.json: the command, the model and input,
    the settings as used (the output the oracle chose, not null), the time, the figures and the heat per
    feature, ((rank + 1) / t) ** alpha (the image is overlay.png; the pixel map is
    ``trace_opt.trajectory_to_heatmap(trajectory, features)``), not a list of every pixel."""
    from trace_opt.explanation.rankings import trajectory_heat

    return {
        "command": "explain",
        "argv": getattr(args, "argv", None),
        "model": args.model,
        "data_seed": args.data_seed,
        "model_seed": args.model_seed,
        "input": source,
        "target_name": target_name,
        "settings": {**settings.to_dict(), "output": exp.output},
        "seconds": seconds,
        "figures": figures,
        "heat_per_feature": trajectory_heat(exp.trajectory, settings.heatmap_alpha).tolist(),
    }
