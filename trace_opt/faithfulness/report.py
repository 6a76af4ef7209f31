"""``write_faithfulness_report``: ``report.md`` from whatever the registered tests have finished under a folder."""

from __future__ import annotations

from pathlib import Path

from trace_opt.core.io import atomic_write_bytes, atomic_write_json
from trace_opt.faithfulness.base import get_test, registered_tests

#: the report's introduction (what the built-in parts explain and compare)
INTRO = (
    "Does TRACE's order still beat the attribution methods when the test is not the deletion curve it "
    "maximised? Parts 1-3: digits8 CNN (shipped weights), 4 x 4 grid of 2 x 2 patches (t = 16), "
    "zero reference, "
    "target = predicted class. Part 4: BAM on 16 x 16 digits-on-textures images built here (t = 16 patches of "
    "4 x 4). A trajectory's attribution scores, wherever a test needs scores, are its marginal "
    "contributions along its LeRF chain, phi[sigma[k]] = D(P_k) - D(P_{k+1}) (P_k = the k least important "
    "deleted), which sum to D({}) - D(all); every method is scored per patch (one score per feature painted "
    "on its pixels). TPN / TPS follow 'Interpreting Interpretations' Defs. 3-6 (curves = polylines through the "
    "score-share points, so an exactly proportional attribution scores 0; outputs = probabilities)."
)
ANSWERS_NOTE = (
    "Generated from the numbers below: TRACE against the best baseline on each test (95 % paired Student-t "
    "intervals; 'separated' = the interval excludes 0). Part 1 compares TRACE-p (Le-Mo), parts 2-4 TRACE-y "
    "(Le-Mo) (the logit; parts 3-4 with a cheap SA budget)."
)
READING_NOTES = (
    "Reading notes: TPS divides by r' f(x) (r' = the output with only the positively scored patches kept, "
    "over f(x)), which is near 0 on a few inputs, so its means are heavy-tailed; the win / loss counts are the "
    "robust reading. ROAR ranks the removal *masks* as much as the removed content: see the leak check in "
    "section 3 before reading its verdicts. Saturation: a trajectory's marginal scores along one chain give "
    "the whole credit of two saturating patches to the one deleted second (deleting the first changes "
    "nothing), so TRACE is imbalanced by construction, while flat scores (Random) look balanced; read the "
    "imbalance with the null share. BAM's IDR / IIR are indicators per input, so their paired differences "
    "are mostly ties."
)


def _section(test, out: Path, k: int) -> tuple[list, list, list]:
    """Report section ``k`` of one test, and its answers and cost lines (none when it has not run)."""
    body = [f"## {k}. {test.title}", ""]
    records = test.load(out)
    if records is None:
        return body + ["Not run (or not finished).", ""], [], []
    summary = test.summarise(records)
    if test.summary_file and summary:
        atomic_write_json(out / test.folder / test.summary_file, summary)
    return body + [test.markdown(summary), ""], test.answers(summary, records), test.costs(summary, records)


def write_faithfulness_report(out, command: str = "", settings=None, options: dict | None = None) -> Path:
    """``out/report.md`` from whatever the registered tests (``registered_tests``, in order) have finished under
    ``out``; a test not run is said to be missing. Opens with a plain answer per test and the n and compute of
    each. ``settings`` / ``options[name]``: the explanation settings and a test's options (default: defaults)."""
    out = Path(out)
    answers, costs, body = [], [], []
    for k, name in enumerate(registered_tests(), start=1):
        test = get_test(name)(settings, **(options or {}).get(name, {}))
        b, a, c = _section(test, out, k)
        body, answers, costs = body + b, answers + a, costs + c
    head = [
        "# Faithfulness outside the optimised metric",
        "",
        "Regenerate (resumes from the cached parts): "
        f"`{command or 'python -m trace_opt faithfulness --out ' + str(out)}`",
        "",
        INTRO,
        "",
        "## Answers, per test",
        "",
        ANSWERS_NOTE,
        "",
        *answers,
        "",
        READING_NOTES,
        "",
        "## n and compute per part (2 shared CPU cores, one thread)",
        "",
        *costs,
        "",
    ]
    return atomic_write_bytes(out / "report.md", "\n".join(head + body).encode())


__all__ = ["write_faithfulness_report"]
