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
removed content (the class-information leakage that motivated ROAD). Everything is cached
under ``out`` (``trajectories.npz`` per method, one JSON per (method, fraction, seed)), so a rerun resumes.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from trace_opt.core.io import atomic_write_json, check_output_dir

METHODS = ("random", "saliency", "integrated-gradients", "grad-cam", "occlusion", "shapley-sampling", "trace-y-le-mo")
FRACTIONS = (0.25, 0.5, 0.75)


def _orders(model, X, targets, features, method: str, sa_iterations: int, seed: int) -> tuple[np.ndarray, float, float]:
    """Trajectories (n, t) of ``method`` on the rows of X; mean forward passes and seconds per image."""
    from solvers import get_solver
    from trace_opt.attribution.evaluation import EvaluationConfig, count_forward_rows, evaluation_oracle
    from trace_opt.baselines import attribute, make_input
    from trace_opt.core.problem import TraceProblem

    out, passes = [], []
    start = time.perf_counter()
    cfg = EvaluationConfig(sa_iterations=sa_iterations)
    for i in range(len(X)):
        s = seed + i
        if method.startswith("trace-"):
            oracle = evaluation_oracle(model, X[i], int(targets[i]), features, "zeros", "logit")
            res = get_solver("sa", **cfg.sa_options()).solve(TraceProblem(oracle, "le-mo"), seed=s, curves=False)
            out.append(res.trajectory)
            passes.append(res.forward_passes)
        else:
            inp = make_input(model, X[i], int(targets[i]), features, "zeros", seed=s)
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
    from trace_opt.models.architectures import DigitsCNN8
    from trace_opt.models.data import _fit, accuracy

    torch.manual_seed(seed)
    model = DigitsCNN8()
    _fit(model, Xtr, ytr, seed=seed, epochs=epochs, batch_size=64, lr=3e-3, weight_decay=0.0)
    return accuracy(model, Xte, yte)


def run_roar(
    out,
    *,
    n_train: int = 500,
    n_test: int = 250,
    methods=METHODS,
    fractions=FRACTIONS,
    seeds=(0, 1),
    epochs: int = 30,
    sa_iterations: int = 500,
    fill: str = "mean",
    orders_dir=None,
    leak_check: float | None = 0.5,
    progress: bool = True,
) -> dict:
    """ROAR as in the module docstring; returns and writes ``out/roar.json``. ``fill``: "mean" (the training
    mean pixel) or "zeros"; ``orders_dir``: where the orders are cached (default ``out``; another run's orders
    are reused); ``leak_check``: the fraction of the mask-only retraining (None: skip)."""
    from trace_opt.core.features import grid_features
    from trace_opt.models.data import digits_cnn, load_digits_split

    out = check_output_dir("out", out, create=True)
    torch.set_num_threads(1)
    model = digits_cnn(8).eval()
    X_train, X_test, y_train, y_test = load_digits_split(8)
    Xtr, ytr, Xte, yte = X_train[:n_train], y_train[:n_train], X_test[:n_test], y_test[:n_test]
    feats = grid_features((8, 8), 4)
    if fill not in ("mean", "zeros"):
        raise ValueError(f"fill must be 'mean' or 'zeros'; got {fill!r}")
    value = float(X_train.mean()) if fill == "mean" else 0.0
    odir = out if orders_dir is None else check_output_dir("orders_dir", orders_dir, create=True)
    with torch.inference_mode():
        ptr, pte = model(Xtr).argmax(1).numpy(), model(Xte).argmax(1).numpy()
    cost = {}
    orders = {}
    for m in methods:
        path = odir / f"trajectories_{m}.npz"
        if path.exists():
            z = np.load(path)
            orders[m] = (z["train"], z["test"])
            cost[m] = {"forward_passes_per_image": float(z["passes"]), "seconds_per_image": float(z["seconds"])}
            continue
        tr, p1, s1 = _orders(model, Xtr, ptr, feats, m, sa_iterations, seed=0)
        te, p2, s2 = _orders(model, Xte, pte, feats, m, sa_iterations, seed=100_000)
        passes, secs = (
            (p1 * len(tr) + p2 * len(te)) / (len(tr) + len(te)),
            (s1 * len(tr) + s2 * len(te)) / (len(tr) + len(te)),
        )
        np.savez(path, train=tr, test=te, passes=passes, seconds=secs)
        orders[m] = (tr, te)
        cost[m] = {"forward_passes_per_image": passes, "seconds_per_image": secs}
        if progress:
            print(f"[roar] {m}: orders in {secs:.3f} s per image", file=sys.stderr, flush=True)
    runs = []
    for seed in seeds:
        key = out / f"run_none_0_{seed}.json"
        if not key.exists():
            start = time.perf_counter()
            acc = _train_eval(Xtr, ytr, Xte, yte, seed, epochs)
            atomic_write_json(
                key,
                {
                    "method": "none",
                    "fraction": 0.0,
                    "seed": seed,
                    "accuracy": acc,
                    "seconds": time.perf_counter() - start,
                },
            )
        runs.append(json.loads(key.read_text()))
        for m in methods:
            for f in fractions:
                path = out / f"run_{m}_{f}_{seed}.json"
                if not path.exists():
                    k = int(round(f * feats.t))
                    start = time.perf_counter()
                    acc = _train_eval(
                        remove_top(Xtr, orders[m][0], feats, k, value),
                        ytr,
                        remove_top(Xte, orders[m][1], feats, k, value),
                        yte,
                        seed,
                        epochs,
                    )
                    atomic_write_json(
                        path,
                        {
                            "method": m,
                            "fraction": f,
                            "seed": seed,
                            "k": k,
                            "accuracy": acc,
                            "seconds": time.perf_counter() - start,
                        },
                    )
                    if progress:
                        print(f"[roar] {m} f={f} seed={seed}: {acc:.3f}", file=sys.stderr, flush=True)
                runs.append(json.loads(path.read_text()))
    leak = []
    if leak_check is not None:
        k = int(round(leak_check * feats.t))
        ones_tr, ones_te = torch.zeros_like(Xtr), torch.zeros_like(Xte)
        for m in methods:
            path = out / f"leak_{m}_{leak_check}.json"
            if not path.exists():
                start = time.perf_counter()
                acc = _train_eval(
                    remove_top(ones_tr, orders[m][0], feats, k, 1.0),
                    ytr,
                    remove_top(ones_te, orders[m][1], feats, k, 1.0),
                    yte,
                    seeds[0],
                    epochs,
                )
                atomic_write_json(
                    path,
                    {
                        "method": m,
                        "fraction": leak_check,
                        "seed": seeds[0],
                        "accuracy": acc,
                        "seconds": time.perf_counter() - start,
                    },
                )
                if progress:
                    print(f"[roar] mask-only {m} f={leak_check}: {acc:.3f}", file=sys.stderr, flush=True)
            leak.append(json.loads(path.read_text()))
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
        "cost": cost,
        "runs": runs,
    }
    atomic_write_json(out / "roar.json", res)
    return res


def roar_markdown(res: dict) -> str:
    """Accuracy per method and fraction (mean over retraining seeds, with the min-max range), the paired
    difference to random removal over (fraction, seed), and the cost of the orders."""
    from trace_opt.attribution.evaluation import ci_half_width, method_label

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
    pairs = roar_paired(res)
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
    from trace_opt.attribution.evaluation import paired

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


__all__ = ["METHODS", "FRACTIONS", "remove_top", "run_roar", "roar_markdown", "roar_paired"]
