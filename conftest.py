"""Root pytest configuration: nbval on by default for notebooks/, with absolute paths."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if not getattr(option, "nbval", None) and not getattr(option, "nbval_lax", None):
        option.nbval = True  # `pytest` alone runs the notebooks too; `pytest tests` skips them
    if getattr(option, "nbval_sanitize_with", None) is None:
        option.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")
    option.nbval_current_env = True  # the notebooks' kernel is this environment's Python
    if str(getattr(option, "nbval_cell_timeout", 2000)) == "2000":
        option.nbval_cell_timeout = 300
