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


def show_source(*objs: Any) -> Source:
    """The source of classes or functions of the library, one after another, ready to display."""
    return Source("\n".join(textwrap.dedent(inspect.getsource(obj)) for obj in objs))
