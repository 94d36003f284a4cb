"""The command lines' shared parser: bad options end in one readable line, not a usage dump."""

from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """Bad options end in one readable line (and exit 2), not a usage dump or a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
