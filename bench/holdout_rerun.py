"""Re-run only the held-out comparison of finished Optuna studies (no new trials), from their stored results.

    python bench/holdout_rerun.py bench/results/tuning_sa bench/results/tuning_sa_b3000 \
        bench/results/tuning_sa_hard bench/results/tuning_sa_hard_b3000

For each study folder: the tuned parameters, held-out instances, budget, seeds and objective are read from its
``holdout.json`` (written by ``python -m trace_opt tune``), the library from the ``--library`` of the command stored
there (``instances/hard`` ships; ``runs/instances/digits8-mean-prob`` is rebuilt by ``bench/instances_tuning.sh``),
and ``trace_opt.benchmarks.tuning.compare_on_holdout`` runs again on table oracles (seconds): the instance as the
unit of the paired difference, how many iterations each schedule ran, and the default run to completion. The
re-run must reproduce the stored per-run gaps (same seeds, same tables); the largest difference is recorded
(``reproduced_max_abs_diff``) and the script stops if it exceeds 1e-12. Writes ``holdout.json`` / ``holdout.md``
in the folder (``--out``/``--stem`` are ignored: the folders are the outputs).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from _harness import ROOT, machine, parse, parser

from trace_opt.benchmarks.instances import load_library
from trace_opt.benchmarks.tuning import compare_on_holdout, holdout_markdown
from trace_opt.core.io import atomic_write_bytes, atomic_write_json, json_values


def study_summary(md: str) -> dict | None:
    """The study line of an earlier holdout.md (complete / pruned / failed trials, best value)."""
    m = re.search(
        r"study: (\d+) complete, (\d+) pruned, (\d+) failed trials; best mean gap on the \d+ tuning "
        r"instances ([0-9.]+)",
        md,
    )
    return (
        None
        if m is None
        else {"n_complete": int(m[1]), "n_pruned": int(m[2]), "n_failed": int(m[3]), "best_value": float(m[4])}
    )


def rerun(folder: Path, command: str) -> dict:
    old = json.loads((folder / "holdout.json").read_text())
    words = shlex.split(old["command"])
    library = ROOT / words[words.index("--library") + 1]
    by_name = {i.name: i for i in load_library(library)}
    held = [by_name[n] for n in old["instances"]]
    cmp = compare_on_holdout(old["solver"], old["tuned"]["params"], held, old["budget"], old["seeds"], old["objective"])
    stored = {(u["instance"], u["seed"]): u for u in old["per_unit"]}
    diff = max(
        max(
            abs(u["default_gap"] - stored[(u["instance"], u["seed"])]["default_gap"]),
            abs(u["tuned_gap"] - stored[(u["instance"], u["seed"])]["tuned_gap"]),
        )
        for u in cmp["per_unit"]
    )
    if diff > 1e-12:
        raise SystemExit(f"{folder}: the re-run does not reproduce the stored gaps (max difference {diff:.3g})")
    cmp.update(
        command=old["command"],
        tuning_instances=old.get("tuning_instances", []),
        holdout_rerun={"command": command, "machine": machine(), "reproduced_max_abs_diff": diff},
    )
    md = holdout_markdown(cmp, study_summary((folder / "holdout.md").read_text()))
    md += (
        f"\nRe-run of the held-out comparison only (same tuned parameters, no new trials): `{command}`; it "
        f"reproduced every stored per-run gap (largest difference {diff:.1e}).\n"
    )
    atomic_write_json(folder / "holdout.json", json_values(cmp))
    atomic_write_bytes(folder / "holdout.md", md.encode())
    return cmp


def main(argv=None) -> int:
    ap = parser(__file__, __doc__.split("\n")[0])
    ap.add_argument("folders", type=Path, nargs="+", help="study folders holding holdout.json and holdout.md")
    args = parse(ap, argv)
    for folder in args.folders:
        cmp = rerun(folder, args.command)
        pd, sch = cmp["paired_difference"], cmp["default_schedule"]
        print(
            f"{folder}: tuned - default {pd['mean']:+.5f} per instance (n = {pd['instances']}, t = {pd['t']:.2f}, "
            f"[{pd['ci_low']:+.5f}, {pd['ci_high']:+.5f}]): {cmp['verdict']}; default ran "
            f"{sch['mean_iterations_run']:.0f} of {sch['iterations']} iterations",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
