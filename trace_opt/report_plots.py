"""Figures of the evaluation report (matplotlib, PNG, written atomically).

Each function takes the plain dicts produced by ``trace_opt.evaluation`` (``summarise``, records,
``sanity_check``) and a path, and returns the path. Paper figure numbers are given for reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .evaluation import OUTPUT_TAGS, method_label, trace_name
from .io import atomic_savefig

OUTPUT_NAMES = {"logit": "logit", "prob": "probability"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    plt = _plt()
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)


_TRACE_COLORS = {"y": "tab:red", "p": "tab:purple"}


def _style(name: str, index: int = 0) -> dict:
    """Line style of a method; baselines take distinct colours from tab20 by their index."""
    if name.startswith("trace-"):
        return {"lw": 2.6 if name.endswith("le-mo") else 1.6, "zorder": 5, "color": _TRACE_COLORS.get(name[6], "red")}
    if name.startswith("exact-"):
        return {"lw": 1.8, "ls": "--", "color": "black", "zorder": 6}
    if name == "random":
        return {"lw": 1.2, "ls": ":", "color": "grey"}
    plt = _plt()
    return {"lw": 1.1, "alpha": 0.9, "color": plt.cm.tab20(index % 20)}


def plot_mean_curves(summary: dict, path, include=None) -> Path:
    """Fig. 5: mean LeRF and MoRF deletion curves per method, on logits and probabilities.

    ``include`` filters method names (default: baselines, TRACE-(Le-Mo) of each output, and the
    exact (Le-Mo) optimum when present)."""
    plt = _plt()
    outputs = list(summary["curves"])
    names = [m for m in summary["methods"]
             if (include is None and (not m.startswith(("trace-", "exact-")) or m.endswith("le-mo")))
             or (include is not None and m in include)]
    fig, axes = plt.subplots(len(outputs), 2, figsize=(11, 3.8 * len(outputs)), squeeze=False)
    for r, o in enumerate(outputs):
        for c, (key, test) in enumerate((("le", "LeRF"), ("mo", "MoRF"))):
            ax = axes[r, c]
            for i, m in enumerate(names):
                y = summary["curves"][o][m][key]
                ax.plot(np.arange(len(y)), y, label=f"{summary['labels'][m]} ({sum(y):.4g})", **_style(m, i))
            ax.set_title(f"{test} deletion, {OUTPUT_NAMES[o]} (AUC in legend)")
            ax.set_xlabel("features deleted")
            ax.set_ylabel(OUTPUT_NAMES[o])
            ax.legend(fontsize=6.5, ncol=2)
    return _save(fig, path)


def plot_trace_variants(summary: dict, path) -> Path:
    """Fig. 6: TRACE-Le, -Mo and -(Le-Mo) of each output under both tests; the gap between the LeRF
    (solid) and MoRF (dashed) curves is shaded and its area (Le-Mo) given in the title."""
    plt = _plt()
    outputs = [o for o in summary["curves"] if any(m.startswith(f"trace-{OUTPUT_TAGS[o]}-") for m in summary["methods"])]
    objs = [obj for obj in ("le", "mo", "le-mo") if any(trace_name(o, obj) in summary["methods"] for o in outputs)]
    fig, axes = plt.subplots(len(outputs), len(objs), figsize=(4 * len(objs), 3.4 * len(outputs)), squeeze=False)
    for r, o in enumerate(outputs):
        for c, obj in enumerate(objs):
            ax = axes[r, c]
            name = trace_name(o, obj)
            if name not in summary["curves"][o]:
                ax.set_visible(False)
                continue
            le, mo = np.asarray(summary["curves"][o][name]["le"]), np.asarray(summary["curves"][o][name]["mo"])
            k = np.arange(len(le))
            ax.plot(k, le, color="tab:blue", lw=2, label="LeRF")
            ax.plot(k, mo, color="tab:orange", lw=2, ls="--", label="MoRF")
            ax.fill_between(k, mo, le, color="grey", alpha=0.3)
            ax.set_title(f"{method_label(name)}: {le.sum() - mo.sum():.4g}")
            ax.set_xlabel("features deleted")
            ax.set_ylabel(OUTPUT_NAMES[o])
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_complete_search(summary: dict, path) -> Path:
    """Fig. 7: (a) SA's TRACE-Le LeRF and TRACE-Mo MoRF mean curves against the complete-search
    envelopes (max / min of D over all sets of each size) and the exact optima; the area where the
    optimum must lie is shaded. (b) the paper's TRACE/CS ratio, (AUC-Le of TRACE-Le - AUC-Mo of
    TRACE-Mo) / (CS-Le - CS-Mo), against the Avg.IoU of the CS sets, one point per input. (c) the Le-Mo
    variant: Le-Mo of the TRACE-(Le-Mo) trajectory over the same denominator, against the Avg.IoU of
    the per-level (Le-Mo) sets."""
    plt = _plt()
    comp = summary.get("complete")
    if not comp:
        raise ValueError("summary has no complete-search results (t was above exact_max_t)")
    outputs = list(comp)
    fig, axes = plt.subplots(len(outputs), 3, figsize=(15, 3.8 * len(outputs)), squeeze=False)
    for r, o in enumerate(outputs):
        ax = axes[r, 0]
        curves = summary["curves"][o]
        env_le, env_mo = np.asarray(comp[o]["envelope_le"]), np.asarray(comp[o]["envelope_mo"])
        k = np.arange(len(env_le))
        if trace_name(o, "le") in curves:
            sa_le = np.asarray(curves[trace_name(o, "le")]["le"])
            ax.plot(k, sa_le, color="red", lw=2, label=f"SA TRACE-Le, LeRF ({sa_le.sum():.4g})")
            ax.fill_between(k, sa_le, env_le, color="cyan", alpha=0.4)
        if trace_name(o, "mo") in curves:
            sa_mo = np.asarray(curves[trace_name(o, "mo")]["mo"])
            ax.plot(k, sa_mo, color="red", lw=2, ls="--", label=f"SA TRACE-Mo, MoRF ({sa_mo.sum():.4g})")
            ax.fill_between(k, env_mo, sa_mo, color="lime", alpha=0.4)
        ax.plot(k, env_le, color="blue", lw=1.5, label=f"CS-Le envelope ({env_le.sum():.4g})")
        ax.plot(k, env_mo, color="blue", lw=1.5, ls="--", label=f"CS-Mo envelope ({env_mo.sum():.4g})")
        for obj, key, ls in (("le", "le", ":"), ("mo", "mo", "-.")):
            ex = trace_name(o, obj, "exact")
            if ex in curves:
                y = np.asarray(curves[ex][key])
                ax.plot(k, y, color="black", lw=1.2, ls=ls, label=f"exact {obj.upper()} optimum ({y.sum():.4g})")
        ax.set_title(f"(a) SA vs complete search, {OUTPUT_NAMES[o]}")
        ax.set_xlabel("features deleted")
        ax.set_ylabel(OUTPUT_NAMES[o])
        ax.legend(fontsize=7)
        ax = axes[r, 1]  # the paper's definition
        ax.scatter(comp[o].get("avg_iou_paper", []), comp[o].get("ratio_paper", []), s=18, color="tab:blue")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("Avg.IoU of the CS sets (mean of CS-Le kept, CS-Mo deleted)")
        ax.set_ylabel("(AUC-Le TRACE-Le - AUC-Mo TRACE-Mo)\n/ (CS-Le - CS-Mo)")
        ax.set_title(f"(b) TRACE/CS vs Avg.IoU (paper), {OUTPUT_NAMES[o]}")
        ax = axes[r, 2]  # the Le-Mo variant, labelled as what it is
        ax.scatter(comp[o].get("avg_iou_le_mo", []), comp[o].get("ratio_le_mo_variant", []), s=18,
                   color="tab:orange")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("Avg.IoU of the per-level optimal (Le-Mo) sets")
        ax.set_ylabel("(Le-Mo) of TRACE-(Le-Mo)\n/ (CS-Le - CS-Mo)")
        ax.set_title(f"(c) Le-Mo variant (not the paper's), {OUTPUT_NAMES[o]}")
    return _save(fig, path)


def plot_heatmaps(records: list, path, methods=None, shape=None, max_inputs: int = 4) -> Path:
    """Fig. 3: the input and every method's map side by side for the first inputs that kept maps.

    Baselines show their raw attribution map (summed over channels, before the ranking rule's
    absolute value or aggregation); TRACE and exact optima show their trajectory heatmap
    ((rank+1)/t, alpha = 1). Tabular rows are drawn as 1 x d strips.
    """
    plt = _plt()
    recs = [r for r in records if "maps" in r][:max_inputs]
    if not recs:
        raise ValueError("no record kept its maps (set keep_maps > 0 in EvaluationConfig)")
    names = methods or [m for m in recs[0]["maps"] if not m.startswith(("trace-", "exact-")) or m.endswith("le-mo")]
    names = sorted(names, key=lambda m: (not m.startswith("trace-"), not m.startswith("exact-")))
    cols = 1 + len(names)
    fig, axes = plt.subplots(len(recs), cols, figsize=(1.5 * cols, 1.7 * len(recs) + 0.4), squeeze=False)
    for r, rec in enumerate(recs):
        panels = [("input", np.asarray(rec["input"], dtype=float))] + \
                 [(method_label(m), np.asarray(rec["maps"][m], dtype=float)) for m in names]
        for c, (title, img) in enumerate(panels):
            ax = axes[r, c]
            if img.ndim == 1:
                img = img[None, :]
            if c == 0:
                ax.imshow(img, cmap="gray_r", aspect="auto")
            else:
                ax.imshow(img, cmap="jet", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
        axes[r, 0].set_ylabel(f"#{rec['index']} (class {rec['target']})", fontsize=7)
    return _save(fig, path)


def plot_sanity(sanity: dict, path) -> Path:
    """Fig. 4: mean Spearman rank correlation with the trained model's trajectory after each
    randomisation step, cascading (top layer first) and independent."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), squeeze=False)
    for c, mode in enumerate(("cascade", "independent")):
        ax = axes[0, c]
        steps = sanity[mode]
        labels = ["original"] + [s["label"] for s in steps]
        for i, m in enumerate(sanity["methods"]):
            y = [1.0] + [s["mean"][m] for s in steps]  # the trained model's trajectory against itself
            ax.plot(np.arange(len(y)), y, marker="o", ms=3, label=method_label(m), **_style(m, i))
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels(labels, rotation=30, fontsize=7)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("Spearman rank correlation with original")
        ax.set_title(f"{mode} randomisation ({'top layer first, cumulative' if mode == 'cascade' else 'one layer at a time'})")
        if c == 1:
            ax.legend(fontsize=6.5, ncol=2)
    return _save(fig, path)


__all__ = ["plot_mean_curves", "plot_trace_variants", "plot_complete_search", "plot_heatmaps", "plot_sanity"]
