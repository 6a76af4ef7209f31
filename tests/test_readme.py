"""The README's integration snippets run as written (its section on Captum, Quantus, Hugging Face and text)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## From the tools you already use: Captum, Quantus, Hugging Face, text"


def python_blocks() -> list[str]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_the_section_has_its_snippets():
    assert len(python_blocks()) == 4


def test_the_snippets_run_in_order(capsys):
    pytest.importorskip("quantus")
    pytest.importorskip("vaderSentiment")
    pytest.importorskip("pandas")
    namespace: dict = {}
    for block in python_blocks():  # later blocks use the names of earlier ones, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "torch.Size([4, 1, 8, 8])" in out and "marginal_drop" in out
    assert namespace["ex"].features.names[0] == "The"
