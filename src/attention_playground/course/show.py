"""Show the library's own source in a notebook, so the code a learner reads is the code that runs."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any


class Source:
    """Renders as a highlighted Markdown code block in Jupyter, and as plain source elsewhere."""

    def __init__(self, code: str):
        self.code = code

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.code}```"

    def __repr__(self) -> str:
        return self.code

    def __str__(self) -> str:
        return self.code


def show_source(obj: Any) -> Source:
    """The source of a class or function of the library, ready to display."""
    code = textwrap.dedent(inspect.getsource(obj))
    return Source(code)
