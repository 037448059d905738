import shutil
import subprocess
from collections.abc import Callable, Iterable

import pytest


@pytest.fixture(scope="session")
def mma_rejects(tmp_path_factory) -> Callable[[Iterable[str]], set[str]]:
    """Ask the real MMA program which chord symbols it cannot read (one call for the whole list)."""
    # never skipped: a missing MMA must fail the suite loudly
    assert shutil.which("mma"), "MMA is not installed: run `make setup` (Debian package mma)"
    workdir = tmp_path_factory.mktemp("mma")

    def rejects(symbols: Iterable[str]) -> set[str]:
        wanted = sorted(set(symbols))
        out = subprocess.run(
            ["mma", "-xCHORDS", *wanted], capture_output=True, text=True, check=True, cwd=workdir
        ).stdout
        valid_line = next(line for line in out.splitlines() if line.startswith("VALID:"))
        valid = {s.strip() for s in valid_line.removeprefix("VALID:").split(",")}
        return set(wanted) - valid

    return rejects
