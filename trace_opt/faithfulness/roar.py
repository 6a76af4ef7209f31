"""ROAR (remove and retrain; Hooker et al. 2019, as the dissertation in seed 003 runs it) on the digits at
8 x 8 with the 4 x 4 grid of 2 x 2 patches (t = 16).

1. Every method orders the patches of every image of a train and a test subset, explaining the shipped
   digits8 CNN's predicted class (TRACE: SA on (Le-Mo) of the logit; baselines: their ranking rule;
   ``random``: a seeded random order, the control).
2. For each fraction f, the top ``round(f t)`` patches of each image (the most important: the end of
   its trajectory) are replaced by the training set's mean pixel value (an uninformative constant; the
   deletion reference of TRACE is zeros, the digits' background, so ROAR does not reuse TRACE's operator).
3. A fresh CNN (``DigitsCNN8``, Adam, fixed epochs) is trained on the modified train subset, per
   retraining seed, and its accuracy measured on the modified test subset.

A method whose removed patches carry the information the task needs makes the accuracy drop more
(lower = better), and it must drop more than under random removal to say anything. ``fill="zeros"``
removes to 0 instead (the digits' background, so a removed background patch is invisible); the leak
check (``leak_check``) retrains on the removal masks alone (1 = removed) at one fraction: an accuracy above
chance (0.1) says the mask's shape carries the class, which ROAR then rewards or punishes instead of the
removed content (the class-information leakage that motivated ROAD). Everything is kept in ``RecordStore``s
under ``out`` (one record of orders per method, one per (method, fraction, seed) retraining), so a rerun resumes.
Seeds: every image is ordered with the settings' ``seed`` (the random control: ``control_seed``, per image);
``seeds`` are the retraining seeds; ``data_seed`` / ``model_seed`` the split and the explained CNN.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from trace_opt.baselines import attribute, baselines_tagged
from trace_opt.comparison.evaluation import ci_half_width, count_forward_rows, method_label, paired
from trace_opt.core.features import grid_features
from trace_opt.core.io import RecordStore, atomic_write_json, check_output_dir
from trace_opt.faithfulness.base import FaithfulnessTest, default_settings, register_test, settings_dict
from trace_opt.faithfulness.common import answer, baseline_input, fmt, method_seed, oracle, search, trace_method
from trace_opt.models.architectures import DigitsCNN8
from trace_opt.models.data import _fit, accuracy, digits_cnn, load_digits_split

#: the baselines run (``baselines_tagged``): the core panel (Saliency, IG, Occlusion; Random first, the control)
BASELINES = ("core",)
FRACTIONS = (0.25, 0.5, 0.75)


def _orders(model, X, targets, features, method: str, settings, sa_iterations: int) -> tuple[np.ndarray, float, float]:
    """Trajectories (n, t) of ``method`` on the rows of X (every row with the settings' seed; the random
    control with ``control_seed``); mean forward passes and seconds per image."""
    out, passes = [], []
    start = time.perf_counter()
    for i in range(len(X)):
        if method.startswith("trace-"):
            res = search(settings, oracle(settings, model, X[i], int(targets[i]), features, "logit"), sa_iterations)
            out.append(res.trajectory)
            passes.append(res.forward_passes)
        else:
            inp = baseline_input(
                settings, model, X[i], int(targets[i]), features, method_seed(method, settings.seed, X[i])
            )
            with count_forward_rows(model) as rows:
                out.append(attribute(method, model, X[i], int(targets[i]), features, inp=inp).trajectory)
            passes.append(rows.count)
    return np.array(out), float(np.mean(passes)), (time.perf_counter() - start) / max(1, len(X))


def remove_top(X: torch.Tensor, orders: np.ndarray, features, k: int, value: float) -> torch.Tensor:
    """X with the last ``k`` features of each row's trajectory (its most important) set to ``value``."""
    Xr = X.clone()
    ids = torch.as_tensor(features.ids)
    for i in range(len(X)):
        if k:
            top = torch.as_tensor(orders[i][len(orders[i]) - k :])
            mask = torch.isin(ids, top)
            Xr[i][..., mask] = value
    return Xr


def _train_eval(Xtr, ytr, Xte, yte, seed: int, epochs: int) -> float:
    torch.manual_seed(seed)
    model = DigitsCNN8()
    _fit(model, Xtr, ytr, seed=seed, epochs=epochs, batch_size=64, lr=3e-3, weight_decay=0.0)
    return accuracy(model, Xte, yte)


def _data(n_train: int, n_test: int, data_seed: int, model_seed: int) -> dict:
    """The digits8 CNN (``model_seed``), the train and test subsets of its split (``data_seed``), the training
    mean pixel and the predicted classes the orders explain."""
    model = digits_cnn(8, model_seed=model_seed).eval()
    X_train, X_test, y_train, y_test = load_digits_split(8, data_seed=data_seed)
    d = {"model": model, "Xtr": X_train[:n_train], "ytr": y_train[:n_train], "Xte": X_test[:n_test]}
    d.update(yte=y_test[:n_test], mean=float(X_train.mean()))
    with torch.inference_mode():
        d["ptr"], d["pte"] = model(d["Xtr"]).argmax(1).numpy(), model(d["Xte"]).argmax(1).numpy()
    return d


def _all_orders(store: RecordStore, data: dict, feats, methods, settings, sa_iterations: int, progress: bool):
    """Every method's orders of the train and test images (one record per method, reused by both variants);
    returns ``orders[m] = (train, test)`` and ``cost[m]``."""
    orders, cost = {}, {}
    for m in methods:
        rec = store.get(f"orders_{m}", m)
        if rec is None:
            tr, p1, s1 = _orders(data["model"], data["Xtr"], data["ptr"], feats, m, settings, sa_iterations)
            te, p2, s2 = _orders(data["model"], data["Xte"], data["pte"], feats, m, settings, sa_iterations)
            n = len(tr) + len(te)
            rec = {"train": tr, "test": te, "passes": (p1 * len(tr) + p2 * len(te)) / n}
            rec["seconds"] = (s1 * len(tr) + s2 * len(te)) / n
            rec = store.put(f"orders_{m}", m, rec)
            if progress:
                print(f"[roar] {m}: orders in {rec['seconds']:.3f} s per image", file=sys.stderr, flush=True)
        orders[m] = (np.asarray(rec["train"], dtype=np.int64), np.asarray(rec["test"], dtype=np.int64))
        cost[m] = {"forward_passes_per_image": float(rec["passes"]), "seconds_per_image": float(rec["seconds"])}
    return orders, cost


def _retrained(store: RecordStore, name: str, fields: dict, train, progress: bool) -> dict:
    """The record ``name`` of one retraining (``train()`` -> accuracy), computed when missing."""
    rec = store.get(name, name)
    if rec is None:
        start = time.perf_counter()
        acc = train()
        rec = store.put(name, name, {**fields, "accuracy": acc, "seconds": time.perf_counter() - start})
        if progress:
            print(f"[roar] {name}: {acc:.3f}", file=sys.stderr, flush=True)
    return rec


def _retrainings(store, data, orders, feats, methods, fractions, seeds, epochs, value, progress) -> list:
    """Per retraining seed: the CNN without removal, then per method and fraction with the top patches removed."""
    Xtr, ytr, Xte, yte = data["Xtr"], data["ytr"], data["Xte"], data["yte"]
    runs = []
    for seed in seeds:
        runs.append(
            _retrained(
                store,
                f"run_none_0_{seed}",
                {"method": "none", "fraction": 0.0, "seed": seed},
                lambda: _train_eval(Xtr, ytr, Xte, yte, seed, epochs),
                progress,
            )
        )
        for m in methods:
            for f in fractions:
                k = int(round(f * feats.t))
                runs.append(
                    _retrained(
                        store,
                        f"run_{m}_{f}_{seed}",
                        {"method": m, "fraction": f, "seed": seed, "k": k},
                        lambda: _train_eval(
                            remove_top(Xtr, orders[m][0], feats, k, value),
                            ytr,
                            remove_top(Xte, orders[m][1], feats, k, value),
                            yte,
                            seed,
                            epochs,
                        ),
                        progress,
                    )
                )
    return runs


def _leak_runs(store, data, orders, feats, methods, fraction: float, seed: int, epochs: int, progress) -> list:
    """The CNN retrained on the removal masks alone (1 = removed) at one ``fraction``, per method."""
    k = int(round(fraction * feats.t))
    ones_tr, ones_te = torch.zeros_like(data["Xtr"]), torch.zeros_like(data["Xte"])
    return [
        _retrained(
            store,
            f"leak_{m}_{fraction}",
            {"method": m, "fraction": fraction, "seed": seed},
            lambda: _train_eval(
                remove_top(ones_tr, orders[m][0], feats, k, 1.0),
                data["ytr"],
                remove_top(ones_te, orders[m][1], feats, k, 1.0),
                data["yte"],
                seed,
                epochs,
            ),
            progress,
        )
        for m in methods
    ]


def run_roar(
    out,
    *,
    settings=None,
    n_train: int = 500,
    n_test: int = 250,
    methods=None,
    fractions=FRACTIONS,
    seeds=(0, 1),
    epochs: int = 30,
    sa_iterations: int = 500,
    fill: str = "mean",
    orders_dir=None,
    leak_check: float | None = 0.5,
    data_seed: int = 0,
    model_seed: int = 0,
    progress: bool = True,
) -> dict:
    """ROAR as in the module docstring; returns and writes ``out/roar.json``. ``methods``: default the
    ``BASELINES`` (random first) and TRACE (Le-Mo) on the logit; ``fill``: "mean" (the training mean pixel) or
    "zeros"; ``orders_dir``: where the orders are kept (default ``out``; another run's orders are reused);
    ``leak_check``: the fraction of the mask-only retraining (None: skip); ``seeds``: the retraining seeds."""
    if fill not in ("mean", "zeros"):
        raise ValueError(f"fill must be 'mean' or 'zeros'; got {fill!r}")
    settings = default_settings() if settings is None else settings
    out = check_output_dir("out", out, create=True)
    odir = out if orders_dir is None else check_output_dir("orders_dir", orders_dir, create=True)
    torch.set_num_threads(settings.threads or 1)
    data = _data(n_train, n_test, data_seed, model_seed)
    if methods is None:
        methods = [
            *baselines_tagged(*BASELINES, model=data["model"], controls="first"),
            trace_method("logit", settings),
        ]
    feats = grid_features((8, 8), 4)
    value = data["mean"] if fill == "mean" else 0.0
    common = {"test": "roar", "explain": settings_dict(settings), "sa_iterations": sa_iterations}
    common.update(n_train=n_train, n_test=n_test, data_seed=data_seed, model_seed=model_seed)
    orders, cost = _all_orders(RecordStore(odir, common), data, feats, methods, settings, sa_iterations, progress)
    store = RecordStore(out, {**common, "epochs": epochs, "fill": fill})
    runs = _retrainings(store, data, orders, feats, methods, fractions, seeds, epochs, value, progress)
    leak = (
        []
        if leak_check is None
        else _leak_runs(store, data, orders, feats, methods, leak_check, seeds[0], epochs, progress)
    )
    res = {
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "sa_iterations": sa_iterations,
        "fill": fill,
        "leak": leak,
        "removed_value": value,
        "fractions": list(fractions),
        "seeds": list(seeds),
        "methods": list(methods),
        "trace": trace_method("logit", settings),
        "cost": cost,
        "runs": runs,
    }
    atomic_write_json(out / "roar.json", res)
    return res


#: the two variants of the report: (folder, section tag, what removal writes)
VARIANTS = (
    ("roar", "3a", "mean", "removed patches set to the training mean pixel"),
    ("roar_zeros", "3b", "zeros", "removed patches set to 0, the background"),
)


@register_test("roar")
class Roar(FaithfulnessTest):
    """Part 3: ROAR in two variants (removal to the training mean pixel, and to 0), the orders computed once."""

    title = "ROAR (remove and retrain)"
    folder = "roar"
    defaults = {
        "n_train": 400,
        "n_test": 200,
        "seeds": (0, 1, 2, 3, 4),
        "epochs": 15,
        "sa_iterations": 300,
        "data_seed": 0,
        "model_seed": 0,
    }
    baselines = BASELINES

    def run(self, out: Path, progress: bool = True) -> None:
        out = Path(out)
        for folder, _, fill, _ in VARIANTS:
            run_roar(
                out / folder,
                settings=self.settings,
                fill=fill,
                orders_dir=out / VARIANTS[0][0],
                progress=progress,
                **{**self.options, "seeds": tuple(self.options["seeds"])},
            )

    def load(self, out: Path):
        found = {
            v[0]: json.loads((Path(out) / v[0] / "roar.json").read_text())
            for v in VARIANTS
            if (Path(out) / v[0] / "roar.json").exists()
        }
        return found or None

    def summarise(self, records) -> dict:
        return {
            folder: {"result": rr, "paired": roar_paired(rr, rr.get("trace", "trace-y-le-mo"))}
            for folder, rr in records.items()
        }

    def markdown(self, summary: dict) -> str:
        parts = []
        for folder, tag, _, what in VARIANTS:
            if folder in summary:
                parts += [f"### {tag}. {what}", "", roar_markdown(summary[folder]["result"]), ""]
        return "\n".join(parts).rstrip("\n")

    def answers(self, summary: dict, records) -> list[str]:
        lines = []
        for folder, tag, _, what in VARIANTS:
            if folder in summary:
                lines += _variant_answers(summary[folder]["result"], summary[folder]["paired"], tag, what)
        return lines

    def costs(self, summary: dict, records) -> list[str]:
        return [_variant_cost(summary[folder]["result"], tag) for folder, tag, _, _ in VARIANTS if folder in summary]


def _variant_answers(rr: dict, pr: dict, tag: str, what: str) -> list[str]:
    """The plain answer of one ROAR variant and its random-removal control."""
    trace = rr.get("trace", "trace-y-le-mo")
    acc = {}
    for r in rr["runs"]:
        acc.setdefault(r["method"], []).append(r["accuracy"])
    means = {m: float(np.mean(v)) for m, v in acc.items() if m != "none"}
    label = f"Part {tag}, ROAR, {what} (test accuracy after removing the top patches and retraining, lower = better)"
    lines = [answer(label, means, pr, False, trace)]
    if "random" in pr:
        p = pr["random"]
        leak = {r["method"]: r["accuracy"] for r in rr.get("leak", [])}
        verdict = (
            "more than random (separated)"
            if p["separated"] and p["mean"] > 0
            else "no more than random, at this n"
            if not p["separated"]
            else "less than random"
        )
        mask = (
            f"; the removal mask alone gives {leak.get(trace, float('nan')):.3f} test accuracy for "
            f"TRACE's orders, {leak.get('random', float('nan')):.3f} for random ones (chance 0.1)"
            if leak
            else ""
        )
        lines.append(
            f"- **Part {tag}, ROAR control**: random removal minus TRACE: {fmt(p['mean'], 3)} ± {fmt(p['ci'], 3)} "
            f"(n = {p['n']}) -> TRACE's removal hurts {verdict}{mask}."
        )
    return lines


def _variant_cost(rr: dict, tag: str) -> str:
    trace = rr.get("trace", "trace-y-le-mo")
    sec = sum(r.get("seconds", 0.0) for r in rr["runs"] + rr.get("leak", []))
    orders = sum(c.get("seconds_per_image", 0.0) for c in rr["cost"].values()) * (rr["n_train"] + rr["n_test"])
    return (
        f"- Part {tag}: {len(rr['methods'])} methods x {len(rr['fractions'])} fractions x {len(rr['seeds'])} "
        f"retraining seeds (+ {len(rr['seeds'])} without removal, + {len(rr.get('leak', []))} mask-only) = "
        f"{len(rr['runs']) + len(rr.get('leak', []))} retrainings on {rr['n_train']} / {rr['n_test']} images, "
        f"{sec / 60:.1f} min; orders {orders / 60:.1f} min, computed once for both variants "
        f"(TRACE: SA K = {rr['sa_iterations']}, "
        f"{rr['cost'].get(trace, {}).get('forward_passes_per_image', float('nan')):,.0f} "
        "forward passes per image)."
    )


def roar_markdown(res: dict) -> str:
    """Accuracy per method and fraction (mean over retraining seeds, with the min-max range), the paired
    difference to random removal over (fraction, seed), and the cost of the orders."""
    runs = res["runs"]
    base = [r["accuracy"] for r in runs if r["method"] == "none"]
    fr = res["fractions"]
    lines = [
        f"Train subset {res['n_train']} images, test subset {res['n_test']}, DigitsCNN8 retrained from scratch "
        f"({res['epochs']} epochs, Adam) per retraining seed {res['seeds']}; removed patches set to "
        + ("the training mean pixel value" if res.get("fill", "mean") == "mean" else "0 (the background)")
        + f" {res['removed_value']:.3f}. Accuracy without removal: "
        f"{np.mean(base):.3f} (seeds: {', '.join(f'{v:.3f}' for v in base)}). Lower = the removed patches "
        "mattered more.",
        "",
        "| method | "
        + " | ".join(f"remove {int(f * 100)} %" for f in fr)
        + " | mean drop vs random (paired over fractions x seeds) | order cost: forward passes / image | s / image |",
        "|---|" + "---:|" * len(fr) + "---:|---:|---:|",
    ]
    acc = {(r["method"], r["fraction"], r["seed"]): r["accuracy"] for r in runs}
    for m in res["methods"]:
        cells = []
        for f in fr:
            v = [acc[(m, f, s)] for s in res["seeds"] if (m, f, s) in acc]
            cells.append(f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]" if v else "-")
        d = [
            acc[("random", f, s)] - acc[(m, f, s)]
            for f in fr
            for s in res["seeds"]
            if (m, f, s) in acc and ("random", f, s) in acc
        ]
        dtxt = "-" if m == "random" or not d else f"{np.mean(d):+.3f} ± {ci_half_width(d):.3f}"
        c = res["cost"].get(m, {})
        lines.append(
            f"| {method_label(m)} | " + " | ".join(cells) + f" | {dtxt} | "
            f"{c.get('forward_passes_per_image', float('nan')):,.0f} | {c.get('seconds_per_image', float('nan')):.3f} |"
        )
    pairs = roar_paired(res, res.get("trace", "trace-y-le-mo"))
    if pairs:
        tr = res.get("trace", "trace-y-le-mo")
        lines += [
            "",
            f"{method_label(tr)} against each method, paired over (fraction, retraining seed): accuracy of the "
            "method minus TRACE's (positive favours TRACE: its removal hurt more), 95 % Student-t half-width. The "
            f"{len(res['fractions']) * len(res['seeds'])} pairs are {len(res['fractions'])} fractions x "
            f"{len(res['seeds'])} seeds, not independent replicates of one condition (the fraction changes the "
            "size of the effect), so the interval is indicative; the win / loss counts say as much. TRACE's "
            f"orders come from a cheap search (SA, K = {res['sa_iterations']}, on (Le-Mo) of the logit).",
            "",
            "| method | mean ± 95 % | TRACE better / worse / tied | n |",
            "|---|---:|---|---:|",
        ]
        for m, p in pairs.items():
            lines.append(
                f"| {method_label(m)} | {p['mean']:+.3f} ± {p['ci']:.3f}"
                + (" (separated)" if p["separated"] else "")
                + f" | {p['wins']} / {p['losses']} / {p['ties']} | {p['n']} |"
            )
    if res.get("leak"):
        lines += [
            "",
            f"Leak check: the same CNN retrained on the removal masks alone (1 = removed, fraction "
            f"{res['leak'][0]['fraction']}, seed {res['leak'][0]['seed']}); test accuracy (chance 0.1): "
            + ", ".join(f"{method_label(r['method'])} {r['accuracy']:.3f}" for r in res["leak"])
            + ". Above chance = the mask's shape alone tells the class.",
        ]
    total = sum(r.get("seconds", 0.0) for r in runs) + sum(r.get("seconds", 0.0) for r in res.get("leak", []))
    orders = sum(c.get("seconds_per_image", 0.0) for c in res["cost"].values()) * (res["n_train"] + res["n_test"])
    lines += [
        "",
        f"Cost: {len(runs) + len(res.get('leak', []))} retrainings, {total / 60:.1f} min in all "
        f"({total / max(1, len(runs)):.1f} s each); "
        f"the orders {orders / 60:.1f} min ({res['n_train'] + res['n_test']} images per method).",
    ]
    return "\n".join(lines)


def roar_paired(res: dict, trace: str = "trace-y-le-mo") -> dict:
    """``trace`` against each other method: per (fraction, seed) the method's accuracy minus ``trace``'s
    (lower accuracy = better removal, so positive favours ``trace``); ``paired`` statistics."""
    acc = {(r["method"], r["fraction"], r["seed"]): r["accuracy"] for r in res["runs"]}
    keys = [(f, s) for f in res["fractions"] for s in res["seeds"] if (trace, f, s) in acc]
    out = {}
    for m in res["methods"]:
        ks = [k for k in keys if (m, *k) in acc]
        if m == trace or not ks:
            continue
        # paired(a, b, larger_better=False) gives b - a: the method's accuracy minus TRACE's
        out[m] = paired([acc[(trace, *k)] for k in ks], [acc[(m, *k)] for k in ks], False)
    return out


__all__ = ["BASELINES", "VARIANTS", "Roar", "FRACTIONS", "remove_top", "run_roar", "roar_markdown", "roar_paired"]
