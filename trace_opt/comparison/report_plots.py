"""Figures of the evaluation report (matplotlib, PNG, written atomically).

Each function takes the plain dicts produced by ``trace_opt.comparison.evaluation`` (``summarise``, records,
``sanity_check``) and a path, and returns the path. Paper figure numbers are given for reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trace_opt.baselines import available_baselines
from trace_opt.comparison.evaluation import OUTPUT_TAGS, method_label, trace_name
from trace_opt.core.io import atomic_savefig
from trace_opt.explanation.plots import draw_grid_ranks

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
#: exact optima: black (y) and dark grey (p), each with its own dash pattern, so the two are told apart
_EXACT_STYLES = {"y": {"color": "black", "ls": "--"}, "p": {"color": "#6b6b6b", "ls": (0, (1, 1.2))}}
#: baseline colours: no red, purple, magenta/pink or grey hue (TRACE-y red, TRACE-p purple, Random grey), so a
#: baseline is never mistaken for TRACE; with more baselines than colours the dash pattern tells them apart
BASELINE_PALETTE = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:olive",
    "tab:cyan",
    "#1b3a6b",
    "#b8860b",
    "#006d5b",
    "#e6ab02",
    "#4169e1",
    "#9acd32",
    "#00ced1",
)
_BASELINE_DASHES = ("-", "--", "-.", (0, (3, 1, 1, 1, 1, 1)))


def baseline_style(name: str) -> dict:
    """Colour and dash pattern of a baseline: fixed by its place in the registry (the same in every
    figure), from ``BASELINE_PALETTE`` (no TRACE red/purple, no Random grey)."""
    names = [n for n in available_baselines() if n != "random"]
    i = names.index(name) if name in names else (sum(map(ord, name)) % len(BASELINE_PALETTE))
    return {
        "color": BASELINE_PALETTE[i % len(BASELINE_PALETTE)],
        "ls": _BASELINE_DASHES[(i // len(BASELINE_PALETTE)) % len(_BASELINE_DASHES)],
    }


def _style(name: str, index: int = 0) -> dict:
    """Line style of a method: TRACE-y red, TRACE-p purple (thick for (Le-Mo)), Exact-y black dashed,
    Exact-p grey dotted, Random grey dotted, baselines from ``baseline_style``."""
    if name.startswith("trace-"):
        return {"lw": 2.6 if name.endswith("le-mo") else 1.6, "zorder": 5, "color": _TRACE_COLORS.get(name[6], "red")}
    if name.startswith("exact-"):
        return {"lw": 1.9, "zorder": 6, **_EXACT_STYLES.get(name[6], _EXACT_STYLES["y"])}
    if name == "random":
        return {"lw": 1.2, "ls": ":", "color": "grey"}
    return {"lw": 1.1, "alpha": 0.9, **baseline_style(name)}


def plot_mean_curves(summary: dict, path, include=None) -> Path:
    """Fig. 5: mean LeRF and MoRF deletion curves per method, on logits and probabilities.

    ``include`` filters method names (default: baselines, TRACE-(Le-Mo) of each output, and the
    exact (Le-Mo) optimum when present)."""
    plt = _plt()
    outputs = list(summary["curves"])
    names = [
        m
        for m in summary["methods"]
        if (include is None and (not m.startswith(("trace-", "exact-")) or m.endswith("le-mo")))
        or (include is not None and m in include)
    ]
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
    outputs = [
        o for o in summary["curves"] if any(m.startswith(f"trace-{OUTPUT_TAGS[o]}-") for m in summary["methods"])
    ]
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


def plot_complete_search(summary: dict, path, search: str = "SA") -> Path:
    """Fig. 7: (a) the TRACE search's (``search``: SA, or the solver the evaluation ran) TRACE-Le LeRF and
    TRACE-Mo MoRF mean curves against the complete-search
    envelopes (max / min of D over all sets of each size) and the exact optima; the area where the
    optimum must lie is shaded. (a, gaps) the same distances drawn on their own scale, per k: envelope
    minus LeRF curve and MoRF curve minus envelope, for SA and for the exact optima (the curves of (a)
    nearly coincide, so the gaps are invisible there). (b) the paper's TRACE/CS ratio, (AUC-Le of
    TRACE-Le - AUC-Mo of TRACE-Mo) / (CS-Le - CS-Mo), against the Avg.IoU of the CS sets, one point
    per input. (c) the Le-Mo variant: Le-Mo of the TRACE-(Le-Mo) trajectory over the same denominator,
    against the Avg.IoU of the per-level (Le-Mo) sets. Where TRACE-Le / TRACE-Mo did not run (an evaluation
    with only the (Le-Mo) objective), (a) draws the LeRF and MoRF curves of TRACE-(Le-Mo) and of the exact
    (Le-Mo) optimum instead, labelled so, and (b) says why it is empty."""
    plt = _plt()
    comp = summary.get("complete")
    if not comp:
        raise ValueError("summary has no complete-search results (t was above exact_max_t)")
    outputs = list(comp)
    fig, axes = plt.subplots(len(outputs), 4, figsize=(19, 3.9 * len(outputs)), squeeze=False)
    for r, o in enumerate(outputs):
        _panel_envelopes(axes[r, 0], axes[r, 1], summary["curves"][o], comp[o], o, search)
        _panel_ratio_paper(axes[r, 2], comp[o], o)
        _panel_ratio_le_mo(axes[r, 3], comp[o], o)
    return _save(fig, path)


def _panel_envelopes(ax, gax, curves: dict, comp: dict, o: str, search: str) -> None:
    """Fig. 7(a) for output ``o`` (``ax``) and its gaps to the CS envelopes (``gax``)."""
    env_le, env_mo = np.asarray(comp["envelope_le"]), np.asarray(comp["envelope_mo"])
    k = np.arange(len(env_le))
    # TRACE-Le's LeRF and TRACE-Mo's MoRF where they ran, else both curves of the one TRACE-(Le-Mo) order
    separate = trace_name(o, "le") in curves or trace_name(o, "mo") in curves
    le_src, mo_src = (
        (trace_name(o, "le"), trace_name(o, "mo")) if separate else (trace_name(o, "le-mo"), trace_name(o, "le-mo"))
    )
    le_lab, mo_lab = ("TRACE-Le", "TRACE-Mo") if separate else ("TRACE-(Le-Mo)", "TRACE-(Le-Mo)")
    if le_src in curves:
        sa_le = np.asarray(curves[le_src]["le"])
        ax.plot(k, sa_le, color="red", lw=2, label=f"{search} {le_lab}, LeRF ({sa_le.sum():.4g})")
        ax.fill_between(k, sa_le, env_le, color="cyan", alpha=0.4)
        gax.plot(
            k,
            env_le - sa_le,
            color="red",
            lw=2,
            marker="o",
            ms=3,
            label=f"CS-Le - {search} {le_lab} LeRF (sum {(env_le - sa_le).sum():.3g})",
        )
    if mo_src in curves:
        sa_mo = np.asarray(curves[mo_src]["mo"])
        ax.plot(k, sa_mo, color="red", lw=2, ls="--", label=f"{search} {mo_lab}, MoRF ({sa_mo.sum():.4g})")
        ax.fill_between(k, env_mo, sa_mo, color="lime", alpha=0.4)
        gax.plot(
            k,
            sa_mo - env_mo,
            color="darkorange",
            lw=2,
            ls="--",
            marker="s",
            ms=3,
            label=f"{search} {mo_lab} MoRF - CS-Mo (sum {(sa_mo - env_mo).sum():.3g})",
        )
    ax.plot(k, env_le, color="blue", lw=1.5, label=f"CS-Le envelope ({env_le.sum():.4g})")
    ax.plot(k, env_mo, color="blue", lw=1.5, ls="--", label=f"CS-Mo envelope ({env_mo.sum():.4g})")
    _exact_curves(ax, gax, curves, o, k, env_le, env_mo)
    ax.set_title(f"(a) {search} vs complete search, {OUTPUT_NAMES[o]}")
    ax.set_xlabel("features deleted")
    ax.set_ylabel(OUTPUT_NAMES[o])
    ax.legend(fontsize=7)
    gax.axhline(0, color="grey", lw=0.8)
    gax.set_title(f"(a) gaps to the CS envelopes (>= 0), {OUTPUT_NAMES[o]}")
    gax.set_xlabel("features deleted")
    gax.set_ylabel(f"gap ({OUTPUT_NAMES[o]})")
    gax.legend(fontsize=7)


def _exact_curves(ax, gax, curves: dict, o: str, k, env_le, env_mo) -> None:
    """The exact optima's LeRF and MoRF curves (of the Le and Mo optima, else of the (Le-Mo) optimum) and their
    gaps to the envelopes."""
    exact = [
        (trace_name(o, "le", "exact"), "le", "exact Le optimum"),
        (trace_name(o, "mo", "exact"), "mo", "exact Mo optimum"),
    ]
    if not any(ex in curves for ex, _key, _lab in exact):
        exact = [
            (trace_name(o, "le-mo", "exact"), "le", "exact (Le-Mo) optimum, LeRF"),
            (trace_name(o, "le-mo", "exact"), "mo", "exact (Le-Mo) optimum, MoRF"),
        ]
    for (ex, key, lab), ls, env, sign, colour in zip(
        exact, (":", "-."), (env_le, env_mo), (1, -1), ("black", "dimgray")
    ):
        if ex in curves:
            y = np.asarray(curves[ex][key])
            ax.plot(k, y, color=colour, lw=1.2, ls=ls, label=f"{lab} ({y.sum():.4g})")
            g = sign * (env - y)
            gax.plot(
                k,
                g,
                color=colour,
                lw=1.4,
                ls=ls,
                label=f"{'CS-Le - ' if key == 'le' else ''}{lab}{' - CS-Mo' if key == 'mo' else ''} "
                f"(sum {g.sum():.3g})",
            )


def _panel_ratio_paper(ax, comp: dict, o: str) -> None:
    """Fig. 7(b): the paper's TRACE/CS ratio against the Avg.IoU of the CS sets."""
    ax.scatter(comp.get("avg_iou_paper", []), comp.get("ratio_paper", []), s=18, color="tab:blue")
    if not comp.get("ratio_paper"):
        ax.text(
            0.5,
            0.5,
            "not computed: needs TRACE-Le and TRACE-Mo,\nwhich this evaluation did not run",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=9,
        )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("Avg.IoU of the CS sets (mean of CS-Le kept, CS-Mo deleted)")
    ax.set_ylabel("(AUC-Le TRACE-Le - AUC-Mo TRACE-Mo)\n/ (CS-Le - CS-Mo)")
    ax.set_title(f"(b) TRACE/CS vs Avg.IoU (paper), {OUTPUT_NAMES[o]}")


def _panel_ratio_le_mo(ax, comp: dict, o: str) -> None:
    """Fig. 7(c): the Le-Mo variant, labelled as what it is."""
    ax.scatter(comp.get("avg_iou_le_mo", []), comp.get("ratio_le_mo_variant", []), s=18, color="tab:orange")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("Avg.IoU of the per-level optimal (Le-Mo) sets")
    ax.set_ylabel("(Le-Mo) of TRACE-(Le-Mo)\n/ (CS-Le - CS-Mo)")
    ax.set_title(f"(c) Le-Mo variant (not the paper's), {OUTPUT_NAMES[o]}")


#: a map of one sign whose range is below this share of its largest |value| is shown by its range (RISE's maps
#: are all positive and close: divided by their maximum they were one flat colour)
FLAT_MAP_RANGE = 0.5


def _normalised_map(a: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(a - offset) / scale`` in [-1, 1] and ``(scale, offset)``: ``a / max|a|`` (zeros stay zeros, offset 0),
    except for a map of one sign whose range is under ``FLAT_MAP_RANGE`` of max|a|, which is shifted by its
    minimum (its maximum for a non-positive map) and divided by its range, so its structure shows."""
    m = float(np.max(np.abs(a))) if a.size else 0.0
    if m == 0:
        return a, m, 0.0
    lo, hi = float(np.min(a)), float(np.max(a))
    if (lo >= 0 or hi <= 0) and 0 < hi - lo < FLAT_MAP_RANGE * m:
        offset = lo if lo >= 0 else hi
        return (a - offset) / (hi - lo), hi - lo, offset
    return a / m, m, 0.0


def plot_heatmaps(records: list, path, methods=None, shape=None, max_inputs: int = 4, ncols: int = 8) -> Path:
    """Fig. 3: the input and every method's map for the first inputs that kept maps, each input's panels
    wrapped into lines of ``ncols`` (a readable grid, not one strip of 20+ panels).

    Baselines show their raw attribution map (summed over channels, before the ranking rule's absolute
    value or aggregation) divided by its largest |value| on that input, so all baseline maps of an input
    share one scale, [-1, 1], on a diverging colormap centred at zero (white = 0; red positive, blue
    negative; a non-negative map uses the red half only); a map of one sign with a narrow range (RISE's) is
    shifted by its minimum and divided by its range instead, labelled so (``_normalised_map``). TRACE and exact
    optima show their trajectory
    heatmap ((rank+1)/t, alpha = 1) on one shared sequential scale [0, 1]. The two colour bars of each input
    stand at the right of its first line. Tabular rows are drawn as 1 x d strips.
    """
    plt = _plt()
    recs = [r for r in records if "maps" in r][:max_inputs]
    if not recs:
        raise ValueError("no record kept its maps (set keep_maps > 0 in EvaluationConfig)")
    names = methods or [m for m in recs[0]["maps"] if not m.startswith(("trace-", "exact-")) or m.endswith("le-mo")]
    names = sorted(names, key=lambda m: (not m.startswith("trace-"), not m.startswith("exact-")))
    n_panels = 1 + len(names)
    ncols = max(1, min(ncols, n_panels))
    lines = -(-n_panels // ncols)
    row_height = 1.75 if np.asarray(recs[0]["input"]).ndim < 2 else 1.5  # square image panels need less height
    fig, axes = plt.subplots(
        len(recs) * lines,
        ncols + 2,
        squeeze=False,
        figsize=(1.55 * ncols + 1.4, row_height * len(recs) * lines + 0.6),
        gridspec_kw={"width_ratios": [1] * ncols + [0.08, 0.08]},
    )
    for ax in axes.ravel():
        ax.set_visible(False)
    for r, rec in enumerate(recs):
        panels = [("input", np.asarray(rec["input"], dtype=float), None)] + [
            (method_label(m), np.asarray(rec["maps"][m], dtype=float), m) for m in names
        ]
        im_att = im_traj = None
        for c, (title, img, m) in enumerate(panels):
            ax = axes[r * lines + c // ncols, c % ncols]
            ax.set_visible(True)
            if img.ndim == 1:
                img = img[None, :]
            # images keep their pixels square; tabular 1 x d strips fill the panel
            aspect = "auto" if img.shape[0] == 1 else "equal"
            if c == 0:
                ax.imshow(img, cmap="gray_r", aspect=aspect)
                ax.set_ylabel(f"#{rec['index']} (class {rec['target']})", fontsize=7)
            elif m.startswith(("trace-", "exact-")):
                im_traj = ax.imshow(img, cmap="viridis", vmin=0.0, vmax=1.0, aspect=aspect)
            else:
                norm, scale, offset = _normalised_map(img)
                im_att = ax.imshow(norm, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect=aspect)
                shift = f"(−{offset:.2g}) " if offset else ""
                ax.set_xlabel(f"{shift}÷{scale:.2g}", fontsize=5.5, labelpad=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=7)
        for j, (im, label) in enumerate(((im_traj, "(rank+1)/t"), (im_att, "map / max|map|"))):
            if im is None:
                continue
            cax = axes[r * lines, ncols + j]
            cax.set_visible(True)
            cb = fig.colorbar(im, cax=cax)
            cb.ax.tick_params(labelsize=5.5)
            cb.set_label(label, fontsize=6)
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
        ax.set_title(
            f"{mode} randomisation ({'top layer first, cumulative' if mode == 'cascade' else 'one layer at a time'})"
        )
        if c == 1:
            ax.legend(fontsize=6.5, ncol=2)
    return _save(fig, path)


def _grey(img) -> np.ndarray:
    a = np.asarray(img, dtype=float)
    while a.ndim > 2:
        a = a.mean(axis=0)
    return a


def plot_alpha_heatmaps(inputs: list, heatmaps: list, path, alphas=(1, 2, 5), titles=None) -> Path:
    """Fig. 1a: for each input, the input and its trajectory heatmap ``((rank+1)/t)^alpha`` for each alpha
    (larger alpha keeps only the most important features bright). ``heatmaps[i][alpha]`` is an H x W
    array (``rankings.trajectory_to_heatmap``); one shared [0, 1] scale and colour bar."""
    plt = _plt()
    n, cols = len(inputs), 1 + len(alphas)
    fig, axes = plt.subplots(
        n,
        cols + 1,
        figsize=(2.0 * cols + 0.5, 2.05 * n + 0.3),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * cols + [0.07]},
    )
    im = None
    for r in range(n):
        img = _grey(inputs[r])
        axes[r, 0].imshow(img, cmap="gray_r")
        axes[r, 0].set_ylabel(titles[r] if titles else f"input {r}", fontsize=7)
        for c, a in enumerate(alphas, start=1):
            axes[r, c].imshow(img, cmap="gray_r")
            im = axes[r, c].imshow(np.asarray(heatmaps[r][a]), cmap="jet", alpha=0.55, vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(f"alpha = {a}", fontsize=8)
        if r == 0:
            axes[r, 0].set_title("input", fontsize=8)
        for ax in axes[r, :cols]:
            ax.set_xticks([])
            ax.set_yticks([])
        cb = fig.colorbar(im, cax=axes[r, cols])
        cb.ax.tick_params(labelsize=6)
        cb.set_label("((rank+1)/t)^alpha", fontsize=6)
    return _save(fig, path)


def plot_several_t(image, entries: list, path, title: str | None = None) -> Path:
    """Appendix B: one image explained at several feature counts t. ``entries`` = list of dicts with
    ``label`` (e.g. "2 x 2, t = 4"), ``heatmap`` (H x W in [0, 1]), ``le_mo`` (the trajectory's Le-Mo)
    and optionally ``ranks`` + ``grid`` (rank numbers written on the patches when t <= 25)."""
    plt = _plt()
    img = _grey(image)
    n = len(entries)
    fig, axes = plt.subplots(
        1,
        n + 2,
        figsize=(2.5 * (n + 1) + 0.4, 2.9),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * (n + 1) + [0.07]},
    )
    axes = axes[0]
    axes[0].imshow(img, cmap="gray_r")
    axes[0].set_title("input", fontsize=8)
    im = None
    H, W = img.shape
    for j, e in enumerate(entries, start=1):
        ax = axes[j]
        ax.imshow(img, cmap="gray_r")
        im = ax.imshow(np.asarray(e["heatmap"]), cmap="jet", alpha=0.55, vmin=0, vmax=1)
        ax.set_title(f"{e['label']}\nLe-Mo = {e['le_mo']:.4g}", fontsize=8)
        ranks, grid = e.get("ranks"), e.get("grid")
        if ranks is not None and grid is not None and grid[0] * grid[1] <= 25:
            draw_grid_ranks(ax, np.asarray(ranks), tuple(grid), (H, W), fontsize=6, borders=False)
    for ax in axes[: n + 1]:
        ax.set_xticks([])
        ax.set_yticks([])
    cb = fig.colorbar(im, cax=axes[n + 1])
    cb.ax.tick_params(labelsize=6)
    cb.set_label("(rank+1)/t", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def degradation_curves(records: list, method: str, output: str) -> tuple[np.ndarray, np.ndarray]:
    """Schulz et al.'s degradation test for one method: mean over inputs of the LeRF and MoRF deletion
    curves, each input's curves normalised so that the full input scores 1 and the fully deleted input 0:
    ``(D - D(all)) / (D({}) - D(all))`` (inputs where the two are equal are skipped). Returns ``(le, mo)``."""
    les, mos = [], []
    for r in records:
        c = r["methods"][method]["curves"][output]
        le, mo = np.asarray(c["le"], dtype=float), np.asarray(c["mo"], dtype=float)
        top, bottom = le[0], le[-1]
        if abs(top - bottom) <= 1e-12 * max(1.0, abs(top)):
            continue
        les.append((le - bottom) / (top - bottom))
        mos.append((mo - bottom) / (top - bottom))
    if not les:
        n = len(records[0]["methods"][method]["curves"][output]["le"])
        return np.full(n, np.nan), np.full(n, np.nan)
    return np.mean(les, axis=0), np.mean(mos, axis=0)


def plot_degradation(records: list, path, output: str = "logit", methods=None, ncols: int = 6) -> Path:
    """Appendix I: the degradation test in the form of Schulz et al. (2020), one panel per method: the
    mean normalised LeRF (solid) and MoRF (dashed) curves against the fraction of features deleted, the
    area between them shaded and given in the title (larger = better; the metric of Table 2's LeRF -
    MoRF row, here on normalised curves and per feature: mean over the t+1 points). Panels are ordered
    by that area, best first."""
    plt = _plt()
    names = methods or [
        m
        for m in records[0]["methods"]
        if (not m.startswith(("trace-", "exact-")) or m.endswith("le-mo")) and all(m in r["methods"] for r in records)
    ]
    data = {m: degradation_curves(records, m, output) for m in names}
    area = {m: float(np.nanmean(le - mo)) for m, (le, mo) in data.items()}
    names = sorted(names, key=lambda m: -area[m] if np.isfinite(area[m]) else np.inf)
    n = len(names)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.5 * ncols, 2.3 * nrows + 0.4), squeeze=False, sharex=True, sharey=True
    )
    for i, m in enumerate(names):
        ax = axes[i // ncols, i % ncols]
        le, mo = data[m]
        x = np.linspace(0, 1, len(le))
        colour = _style(m).get("color", "black")
        ax.fill_between(x, mo, le, color=colour, alpha=0.25)
        ax.plot(x, le, color=colour, lw=1.6, label="LeRF")
        ax.plot(x, mo, color=colour, lw=1.6, ls="--", label="MoRF")
        ax.set_title(f"{method_label(m)}: {area[m]:.3f}", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axhline(1, color="grey", lw=0.5)
        if i == 0:
            ax.legend(fontsize=6.5, loc="lower left")
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("fraction of features deleted", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"normalised {OUTPUT_NAMES[output]}", fontsize=7)
    fig.suptitle(
        f"Degradation test as in Schulz et al. (2020), {OUTPUT_NAMES[output]}: per input 1 = full input, "
        "0 = all deleted; area between LeRF and MoRF in the titles (mean over points, larger is better)",
        fontsize=8,
    )
    return _save(fig, path)


__all__ = [
    "plot_mean_curves",
    "plot_trace_variants",
    "plot_complete_search",
    "plot_heatmaps",
    "plot_sanity",
    "plot_alpha_heatmaps",
    "plot_several_t",
    "plot_degradation",
    "degradation_curves",
    "baseline_style",
    "BASELINE_PALETTE",
]
