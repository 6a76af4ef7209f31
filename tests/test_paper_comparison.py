"""The paper's comparison in the report: Fig. 7(b)'s TRACE/CS ratio and Avg.IoU by the paper's definition
(checked by hand on a table oracle), and Table 2 with the paper's eight baselines as their own block."""

import itertools

import numpy as np
import pytest
import torch

from trace_opt import grid_features, tabular_features
from trace_opt.comparison.evaluation import (
    PAPER_BASELINES,
    BlackBox,
    EvaluationConfig,
    evaluate_input,
    evaluation_settings,
    summarise,
)
from trace_opt.comparison.report import _headline_text, table2_markdown

T = 8


def table_black_box(seed=0):
    """f(x) = a random value per set of kept features (x = ones, reference = zeros): a table oracle."""
    vals = np.random.default_rng(seed).normal(size=2**T)

    def fn(batch):
        kept = (np.asarray(batch) > 0.5).astype(np.int64) @ (1 << np.arange(T))
        v = vals[kept]
        return np.stack([-v, v], axis=1)

    return BlackBox({"logit": fn}), vals


def _avg_iou(sets):
    """Paper eq. 5 for sets s_1..s_t (python sets; s_k has k elements)."""
    return float(np.mean([len(sets[k] & sets[k + 1]) / len(sets[k] | sets[k + 1]) * (k + 1) / k for k in range(1, T)]))


@pytest.mark.parametrize("seed", [0, 1])
def test_fig7b_ratio_and_avg_iou_by_hand_on_a_table_oracle(seed):
    bb, vals = table_black_box(seed)
    config = EvaluationConfig(
        methods=["random"],
        outputs=("logit",),
        trace_outputs=("logit",),
        explain=evaluation_settings(sa_iterations=60, seed=seed),
        exact_max_t=10,
    )
    rec = evaluate_input(bb, torch.ones(T, dtype=torch.float64), 1, tabular_features(T), "zeros", config)
    summary = summarise([rec], ("logit",))
    comp = summary["complete"]["logit"]

    full = set(range(T))
    subsets = {k: [set(c) for c in itertools.combinations(range(T), k)] for k in range(T + 1)}
    f_kept = lambda keep: vals[sum(1 << i for i in keep)]  # f(x_K): only K kept  # noqa: E731
    D = lambda deleted: f_kept(full - deleted)  # deletion value       # noqa: E731
    cs_le = sum(max(D(s) for s in subsets[k]) for k in range(T + 1))
    cs_mo = sum(min(D(s) for s in subsets[k]) for k in range(T + 1))
    s_le = rec["methods"]["trace-y-le"]["trajectory"]
    s_mo = rec["methods"]["trace-y-mo"]["trajectory"]
    auc_le = sum(D(set(s_le[:k])) for k in range(T + 1))  # LeRF of TRACE-Le
    auc_mo = sum(D(set(s_mo[T - k :])) for k in range(T + 1))  # MoRF of TRACE-Mo
    ratio = (auc_le - auc_mo) / (cs_le - cs_mo)
    # eq. 4: CS-Le's s_k are the kept sets argmax f(x_{s_k}); CS-Mo's the deleted sets argmin f(x \ s_k)
    kept = {k: max(subsets[k], key=f_kept) for k in range(T + 1)}
    deleted_mo = {k: min(subsets[k], key=D) for k in range(T + 1)}
    iou = 0.5 * (_avg_iou(kept) + _avg_iou(deleted_mo))

    assert comp["cs_le"] == pytest.approx(cs_le) and comp["cs_mo"] == pytest.approx(cs_mo)
    assert comp["ratio_paper"] == [pytest.approx(ratio)]
    assert comp["mean_ratio_paper"] == pytest.approx(ratio)
    assert comp["avg_iou_le_kept"] == [pytest.approx(_avg_iou(kept))]
    # here the kept sets' Avg.IoU differs from the deleted sets' (they differ when the sets do not nest)
    assert comp["avg_iou_le"][0] != pytest.approx(_avg_iou(kept), abs=1e-3)
    assert comp["avg_iou_paper"] == [pytest.approx(iou)]
    # the Le-Mo variant stays, labelled as such: one TRACE-(Le-Mo) trajectory over the same denominator
    s_lm = rec["methods"]["trace-y-le-mo"]["trajectory"]
    lm = sum(D(set(s_lm[:k])) for k in range(T + 1)) - sum(D(set(s_lm[T - k :])) for k in range(T + 1))
    assert comp["ratio_le_mo_variant"] == [pytest.approx(lm / (cs_le - cs_mo))]
    # the report prints the paper's number
    text = "\n".join(_headline_text(summary))
    assert "Fig. 7(b)" in text and f"averages {ratio:.4f}" in text


def test_table2_has_the_papers_columns_as_their_own_block_and_both_best_baselines():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 16, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    ).eval()
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))
    methods = ["occlusion", "input-x-gradient", "excitation-backprop", "saliency", "rise-pixel", "iba", "random"]
    config = EvaluationConfig(
        methods=methods,
        explain=evaluation_settings(sa_iterations=60, batch_size=64),
        exact_max_t=0,
        trace_objectives=("le-mo",),
        baseline_options={"rise-pixel": {"n_masks": 200}},
    )
    rec = evaluate_input(cnn, x, 0, grid_features((4, 4), 2), "zeros", config)
    summary = summarise([rec])
    md = table2_markdown(summary)
    paper_block, other_block = md.split("**Other methods**")
    head = [ln for ln in paper_block.splitlines() if ln.startswith("| row")][0]
    # the paper's order: T-y, T-p, then Gradient, (GradCAM), IBA, RISE (pixel), (EP), EBP, (IG), InputxGradient
    assert head == "| row | T-y (Le-Mo) | T-p (Le-Mo) | Saliency | IBA | RISE (pixel) | EBP | InputXGrad |"
    assert "Occlusion" in other_block and "Random" in other_block and "Occlusion" not in paper_block
    for o, h in summary["headline"].items():
        paper = {m: summary["table"][o][m]["le_mo"] for m in h["paper_baselines_run"]}
        assert h["best_paper_baseline"] == max(paper, key=paper.get)
        allb = {m: summary["table"][o][m]["le_mo"] for m in methods if m != "random"}
        assert h["best_baseline"] == max(allb, key=allb.get)
        assert set(h["paper_baselines_run"]) == set(PAPER_BASELINES) & set(methods)
    text = "\n".join(_headline_text(summary))
    assert "the paper's baselines" in text and "not run here" in text and "Over **all**" in text
    # the baselines counted and named are the ones that ran: 6 (random is a reference, not a baseline), of which
    # only occlusion sees the deletion operator; methods that did not run are not named
    assert text.count("Over **all** 6 baselines run here") == len(summary["headline"])
    assert "given the deletion operator itself (Occlusion)" in text
    assert "KernelSHAP" not in text and "LIME" not in text


def test_fig7_with_only_the_le_mo_objective_draws_its_curves_and_says_why_b_is_empty(tmp_path, monkeypatch):
    """An evaluation that ran only TRACE-(Le-Mo) has no TRACE-Le / TRACE-Mo: (a) draws the LeRF and MoRF curves
    of TRACE-(Le-Mo) and of the exact (Le-Mo) optimum (their sums are the AUCs in the labels), (b) says why it
    is empty, and the search is named as the one that ran."""
    import matplotlib

    matplotlib.use("Agg")
    from trace_opt.comparison import report_plots as rp

    bb, _vals = table_black_box(3)
    config = EvaluationConfig(
        methods=["random"],
        outputs=("logit",),
        trace_outputs=("logit",),
        explain=evaluation_settings(sa_iterations=60, seed=0),
        exact_max_t=10,
        trace_objectives=("le-mo",),
    )
    rec = evaluate_input(bb, torch.ones(T, dtype=torch.float64), 1, tabular_features(T), "zeros", config)
    summary = summarise([rec], ("logit",))
    assert "trace-y-le" not in summary["curves"]["logit"] and "trace-y-le-mo" in summary["curves"]["logit"]
    captured = {}
    real_save = rp._save

    def keep(fig, path):
        captured["fig"] = fig
        return real_save(fig, path)

    monkeypatch.setattr(rp, "_save", keep)
    rp.plot_complete_search(summary, tmp_path / "fig7.png", search="greedy")
    axes = captured["fig"].axes
    labels = [ln.get_label() for ln in axes[0].get_lines()]
    curves = summary["curves"]["logit"]
    le = sum(curves["trace-y-le-mo"]["le"])
    assert f"greedy TRACE-(Le-Mo), LeRF ({le:.4g})" in labels
    assert any(lab.startswith("greedy TRACE-(Le-Mo), MoRF") for lab in labels)
    assert any(lab.startswith("exact (Le-Mo) optimum, LeRF") for lab in labels)
    assert axes[0].get_title().startswith("(a) greedy vs complete search")
    assert len(axes[1].get_lines()) >= 4  # the gaps are drawn too (plus the zero line)
    assert any("not computed" in t.get_text() for t in axes[2].texts)
    assert (tmp_path / "fig7.png").stat().st_size > 0
