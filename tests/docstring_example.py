"""The code example of a docstring, so that a test runs what the documentation shows."""

from __future__ import annotations

import inspect
import textwrap


def docstring_example(obj: object) -> str:
    """The literal block of ``obj``'s docstring: the indented lines after the first line ending in ``::``."""
    lines = inspect.getdoc(obj).splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("::")) + 1
    block = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    code = textwrap.dedent("\n".join(block)).strip()
    if not code:
        raise ValueError(f"{obj!r} has no code example in its docstring")
    return code + "\n"
