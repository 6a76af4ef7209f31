"""The faithfulness tests' building blocks on analytic cases: ROAR's removal, the model-in-the-loop metrics,
the paired verdicts, Quantus' metrics through ``road`` on a model whose right order is known."""

import numpy as np
import pytest
import torch

from trace_opt.core.features import grid_features
from trace_opt.faithfulness.common import answer
from trace_opt.faithfulness.metrics import paired
from trace_opt.faithfulness.model_tests import patch_sums, summarise_model_tests
from trace_opt.faithfulness.road import paint
from trace_opt.faithfulness.roar import remove_top, roar_paired


def test_remove_top_replaces_exactly_the_most_important_features():
    feats = grid_features((4, 4), 2)  # 4 patches of 2 x 2
    X = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    orders = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    R = remove_top(X, orders, feats, 2, -7.0)
    ids = torch.as_tensor(feats.ids)
    for i, top in enumerate(([2, 3], [1, 0])):
        removed = torch.isin(ids, torch.tensor(top))
        assert torch.all(R[i, 0][removed] == -7.0) and torch.equal(R[i, 0][~removed], X[i, 0][~removed])
    assert torch.equal(remove_top(X, orders, feats, 0, -7.0), X)


def test_roar_paired_favours_the_method_whose_removal_hurts_more():
    runs = [
        {"method": m, "fraction": f, "seed": s, "accuracy": acc - 0.1 * f}
        for m, acc in (("trace-y-le-mo", 0.5), ("random", 0.8), ("easy", 0.3))
        for f in (0.25, 0.5)
        for s in (0, 1)
    ]
    res = {"runs": runs, "fractions": [0.25, 0.5], "seeds": [0, 1], "methods": ["random", "easy", "trace-y-le-mo"]}
    pr = roar_paired(res)
    assert set(pr) == {"random", "easy"}
    assert pr["random"]["mean"] == pytest.approx(0.3) and pr["random"]["wins"] == 4  # TRACE's removal hurt more
    assert pr["easy"]["mean"] == pytest.approx(-0.2) and pr["easy"]["losses"] == 4


def test_answer_names_the_best_baseline_and_the_verdict():
    trace = np.array([1.0, 1.1, 0.9, 1.0])
    base = {"saliency": trace - 0.5, "occlusion": trace + np.array([0.1, -0.1, 0.2, -0.2]), "random": trace - 2}
    means = {"trace-p-le-mo": trace.mean(), **{m: v.mean() for m, v in base.items()}}
    pairs = {m: paired(trace, v, True) for m, v in base.items()}
    text = answer("x", means, pairs, True, "trace-p-le-mo")
    assert "not separated from** the best baseline, Occlusion" in text and "ahead of 1 of 2 baselines" in text
    lower = answer("y", means, {m: paired(trace, v, False) for m, v in base.items()}, False, "trace-p-le-mo")
    assert "behind** the best baseline, Saliency" in lower  # lower = better: saliency's 0.5 is best


def test_paired_is_oriented_so_positive_favours_trace():
    a, b = np.array([1.0, 2.0, 3.0, np.nan]), np.array([0.0, 1.0, 3.0, 1.0])
    up = paired(a, b, larger_better=True)
    assert up["n"] == 3 and up["mean"] == pytest.approx(2 / 3) and (up["wins"], up["losses"], up["ties"]) == (2, 0, 1)
    down = paired(a, b, larger_better=False)
    assert down["mean"] == pytest.approx(-2 / 3) and down["losses"] == 2


def _sample(kind, sums_a, sums_b, violation=0.0):
    return {
        "kind": kind,
        "violation": violation,
        "sum_a": sums_a,
        "sum_b": sums_b,
        "signed_a": sums_a,
        "signed_b": sums_b,
        "sum_all": {m: sums_a[m] + sums_b[m] for m in sums_a},
    }


def test_model_test_metrics_on_known_attributions():
    null = [_sample("null", {"exact": 2.0, "leaky": 1.0}, {"exact": 0.0, "leaky": 1.0}) for _ in range(4)]
    null.append(_sample("null", {"exact": 5.0, "leaky": 5.0}, {"exact": 5.0, "leaky": 5.0}, violation=0.5))  # dropped
    rng = np.random.default_rng(0)
    sat = []
    for _ in range(6):
        v = float(rng.uniform(1, 2))
        sat.append(_sample("saturation", {"even": v, "one": v}, {"even": v, "one": 0.0}))
    res = summarise_model_tests({"null": null, "saturation": sat})
    assert res["null"]["n_used"] == 4
    assert res["null"]["methods"]["exact"]["mean"] == 0.0 and res["null"]["methods"]["exact"]["exactly_zero"] == 4
    assert res["null"]["methods"]["leaky"]["mean"] == pytest.approx(0.5)
    assert res["saturation"]["methods"]["even"]["imbalance"] == pytest.approx(0.0)
    assert res["saturation"]["methods"]["even"]["corr"] == pytest.approx(1.0)
    assert res["saturation"]["methods"]["one"]["imbalance"] == pytest.approx(0.5)


def test_null_share_uses_the_signed_patch_sum():
    # grid 4 x 4 of 2 x 2 cells on 8 x 8; quadrant 1 = rows 0-3, cols 4-7 = cells 2, 3, 6, 7
    cancel = np.zeros(16)
    cancel[[0, 1, 4, 5]] = 1.0  # patch a (quadrant 0)
    cancel[[2, 3]], cancel[[6, 7]] = 0.5, -0.5  # null patch: cells cancel, the patch sum is 0
    leak = np.zeros(16)
    leak[[0, 1, 4, 5]], leak[2] = 1.0, 2.0
    rec = {
        "kind": "null",
        "violation": 0.0,
        "qa": 0,
        "qb": 1,
        "scores": {"cancel": cancel.tolist(), "leak": leak.tolist()},
    }
    sums = patch_sums(rec)
    assert sums["signed_b"] == {"cancel": 0.0, "leak": 2.0} and sums["signed_a"] == {"cancel": 4.0, "leak": 4.0}
    rec.update(
        sum_a={"cancel": 4.0, "leak": 4.0}, sum_b={"cancel": 2.0, "leak": 2.0}, sum_all={"cancel": 6.0, "leak": 6.0}
    )
    sat = [
        {**rec, "kind": "saturation", "signed_a": {"cancel": v, "leak": v}, "signed_b": {"cancel": v, "leak": -v}}
        for v in (1.0, 2.0, 3.0)
    ]
    res = summarise_model_tests({"null": [rec, rec], "saturation": sat})
    assert res["null"]["methods"]["cancel"]["mean"] == 0.0 and res["null"]["methods"]["cancel"][
        "abs_mean"
    ] == pytest.approx(1 / 3)
    assert res["null"]["methods"]["leak"]["mean"] == pytest.approx(1 / 3)
    assert res["saturation"]["methods"]["cancel"]["imbalance"] == 0.0
    assert res["saturation"]["methods"]["leak"]["imbalance"] == pytest.approx(0.5)
    assert res["saturation"]["methods"]["leak"]["corr"] == pytest.approx(-1.0)


def test_paint_and_quantus_road_on_an_additive_model():
    pytest.importorskip("quantus")
    from trace_opt.faithfulness.road import make_metrics, quantus_metrics

    feats = grid_features((4, 4), 2)
    w = torch.tensor([[4.0, 3.0], [2.0, 1.0]])  # class 1's logit: weight per patch of the pixel sum
    wpix = w.repeat_interleave(2, 0).repeat_interleave(2, 1)

    class Additive(torch.nn.Module):
        def forward(self, x):
            v = (x[:, 0] * wpix).sum(dim=(1, 2)) - 10.0
            return torch.stack([torch.zeros_like(v), v], dim=1)

    model = Additive().eval()
    x = torch.full((1, 4, 4), 0.1)
    x[0, :2, :2] = 1.0  # logit 16 + 2.4 - 10 > 0; without the top-left patch (imputed from ~0.1) < 0
    amap = paint([4.0, 3.0, 2.0, 1.0], feats, x.shape)
    assert amap.shape == (1, 4, 4) and amap[0, 0, 0] == 4.0 and amap[0, 3, 3] == 1.0
    with pytest.raises(ValueError, match="scores"):
        paint([1.0, 2.0], feats, x.shape)
    metrics = make_metrics(road_percentages=(25, 50, 75), fc_runs=20, fc_subset=4)
    # Monotonicity Correlation is left out here: on 16 pixels its per-step variances tie and Quantus 0.6.0's
    # spearman wrapper fails on scipy's float result (it runs on the 8 x 8 digits)
    metrics.pop("monotonicity_correlation")
    right = quantus_metrics(model, x, 1, amap, metrics)
    wrong = quantus_metrics(model, x, 1, paint([1.0, 2.0, 3.0, 4.0], feats, x.shape), metrics)
    # the true order removes the decisive patch first: ROAD (noisy linear imputation from the neighbours, which
    # cannot restore it) flips the prediction at once, the reversed order never (lower = better)
    assert right["road"] == 0.0 and wrong["road"] == 1.0
    assert right["faithfulness_correlation"] > wrong["faithfulness_correlation"]


# --------------------------------------------------------------- the interface and the registry of tests
def test_the_registered_tests_and_their_baselines():
    """The built-in tests are registered in report order, each behind FaithfulnessTest, and select by tags the
    baselines the fixed lists named before the tags."""
    from trace_opt.baselines import baselines_tagged
    from trace_opt.faithfulness import FaithfulnessTest, get_test, registered_tests

    assert registered_tests()[:4] == ["metrics", "model-tests", "roar", "bam"]
    picked = {}
    for name in registered_tests()[:4]:
        cls = get_test(name)
        assert issubclass(cls, FaithfulnessTest) and cls.name == name and cls.title and cls.folder
        picked[name] = baselines_tagged(*cls.baselines, controls="first" if name == "roar" else "last")
    gradients = ["saliency", "input-x-gradient", "integrated-gradients"]
    assert picked["metrics"] == [
        *gradients,
        *("smoothgrad", "deeplift", "guided-backprop", "grad-cam", "occlusion", "feature-ablation"),
        *("shapley-sampling", "kernel-shap", "lime", "rise", "iba", "random"),
    ]
    assert picked["model-tests"] == [
        *gradients,
        *("deeplift", "grad-cam", "occlusion", "shapley-sampling", "iba", "random"),
    ]
    assert picked["roar"] == ["random", "saliency", "integrated-gradients", "occlusion"]
    assert picked["bam"] == [
        *gradients,
        *("smoothgrad", "guided-backprop", "grad-cam", "occlusion", "shapley-sampling", "random"),
    ]


def test_a_new_test_gets_its_section_and_its_records_resume(tmp_path):
    """A test is one class: registered, it is run, its records kept in a RecordStore (reused under the same
    settings, recomputed under others) and reported in its own section; tests not run say so."""
    from trace_opt.explanation.settings import ExplainSettings
    from trace_opt.faithfulness import FAITHFULNESS_TESTS, FaithfulnessTest, load_records, register_test
    from trace_opt.faithfulness.report import write_faithfulness_report

    calls = []

    @register_test("toy")
    class Toy(FaithfulnessTest):
        title = "A toy test"
        folder = "toy"
        defaults = {"n": 2}
        baselines = ("core",)

        def run(self, out, progress=True):
            store = self.store(out / self.folder)
            for i in range(self.options["n"]):
                if store.get(f"input_{i}", str(i)) is None:
                    calls.append(i)
                    store.put(f"input_{i}", str(i), {"value": i + self.settings.seed})

        def load(self, out):
            return load_records(out / self.folder, "input_*.json") or None

        def summarise(self, records):
            return {"total": sum(r["value"] for r in records), "n": len(records)}

        def markdown(self, summary):
            return f"total {summary['total']} over {summary['n']}"

    try:
        with pytest.raises(TypeError):  # the four steps are abstract
            type("Half", (FaithfulnessTest,), {"run": lambda self, out, progress=True: None})()
        with pytest.raises(ValueError, match="unknown"):
            Toy(nope=1)
        Toy(n=2).run(tmp_path)
        Toy(n=3).run(tmp_path)  # other options: every record recomputed
        assert calls == [0, 1, 0, 1, 2]
        Toy(n=3).run(tmp_path)  # the same settings: nothing recomputed
        assert calls == [0, 1, 0, 1, 2]
        seeded = ExplainSettings(seed=5, batch_size=256)
        Toy(seeded, n=3).run(tmp_path)
        assert calls[5:] == [0, 1, 2] and Toy(seeded, n=3).summarise(Toy().load(tmp_path))["total"] == 18
        text = write_faithfulness_report(tmp_path).read_text()
        sections = [line for line in text.splitlines() if line.startswith("## ")]
        assert sections[-1] == "## 5. A toy test" and "## 1. Per-input metrics" in sections[2]
        assert "total 18 over 3" in text and text.count("Not run (or not finished).") == 4
    finally:
        FAITHFULNESS_TESTS.pop("toy", None)


def test_the_tests_refuse_settings_they_cannot_honour():
    from trace_opt.explanation.settings import ExplainSettings
    from trace_opt.faithfulness import get_test

    metrics = get_test("metrics")
    for kw, name in (({"features": 2}, "features"), ({"output": "prob"}, "output"), ({"seed": None}, "seed")):
        with pytest.raises(ValueError, match=f"{name}=.* is not valid for the faithfulness tests|seed=None"):
            metrics(ExplainSettings(**kw))
    assert metrics().settings.batch_size == 256 and metrics().options["n"] == 50


def test_the_command_takes_explain_settings_and_lists_the_registry():
    from trace_opt.cli import build_parser
    from trace_opt.cli._args import explain_settings
    from trace_opt.cli.faithfulness import options_of
    from trace_opt.faithfulness import get_test, registered_tests

    parser = build_parser()
    args = parser.parse_args(["faithfulness"])
    assert args.parts == registered_tests()
    settings = explain_settings(args)
    assert (settings.batch_size, settings.reference, settings.solver, settings.seed) == (256, "zeros", "sa", 0)
    args = parser.parse_args(
        ["faithfulness", "--parts", "bam", "--n-bam", "7", "--model-seed", "3", "--solver-options", '{"eta": 0.9}']
    )
    assert explain_settings(args).solver_options == {"eta": 0.9}
    assert options_of(args, get_test("bam")) == {"n": 7, "model_seed": 3}
    assert options_of(args, get_test("metrics")) == {"model_seed": 3}
    with pytest.raises(SystemExit):
        parser.parse_args(["faithfulness", "--parts", "nope"])


def test_seed_rule_every_input_searched_with_the_seed_and_controls_independent():
    """Every input is searched (and every baseline run) with the settings' seed; the random control's seed comes
    from the seed and the input, so it differs between inputs and not between runs."""
    from trace_opt.faithfulness.common import control_seed, method_seed

    x0, x1 = torch.zeros(1, 8, 8), torch.ones(1, 8, 8)
    assert method_seed("saliency", 3, x0) == method_seed("saliency", 3, x1) == 3
    assert method_seed("random", 3, x0) == control_seed(3, x0) == control_seed(3, x0.clone())
    assert control_seed(3, x0) != control_seed(3, x1) and control_seed(3, x0) != control_seed(4, x0)
    assert method_seed("trace-y-le-mo", 3, x1) == 3


def test_the_command_refuses_a_setting_the_tests_cannot_honour(tmp_path, capsys):
    from trace_opt.cli import main

    refused = ((["--output", "prob"], "--output 'prob' is not valid"), (["--features", "3"], "--features 3"))
    for argv, message in refused:
        with pytest.raises(SystemExit) as exc:
            main(["faithfulness", *argv, "--parts", "report", "--out", str(tmp_path / "out")])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_committed_report_regenerates_from_its_records(tmp_path):
    """reports/faithfulness/report.md is what write_faithfulness_report makes of the committed records."""
    import re
    import shutil
    from pathlib import Path

    from trace_opt.faithfulness.report import write_faithfulness_report

    committed = Path(__file__).resolve().parents[1] / "reports" / "faithfulness"
    if not (committed / "report.md").exists():
        pytest.skip("no committed faithfulness report")
    text = (committed / "report.md").read_text()
    command = re.search(r"Regenerate \(resumes from the cached parts\): `(.*)`", text).group(1)
    shutil.copytree(committed, tmp_path / "faithfulness")
    assert write_faithfulness_report(tmp_path / "faithfulness", command).read_text() == text
