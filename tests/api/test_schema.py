"""schemathesis against the served OpenAPI schema: whatever it sends, the server never answers 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api_helpers import make_settings, serving
from lofi.api import create_app


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, tiny_checkpoint):
    """The app on loopback, without workers: generated jobs stay queued, the API is what is tested."""
    home = tmp_path_factory.mktemp("schema-home")
    app = create_app(make_settings(home, Path(tiny_checkpoint.path), rate_limit="100000/minute"), start_workers=False)
    with serving(app) as url:
        yield url


def test_no_request_makes_the_server_fail(base_url, tmp_path):
    """The schemathesis command, as a user would run it, with only the "no 5xx" check."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")), "run", f"{base_url}/api/v1/openapi.json",
            "--checks", "not_a_server_error", "--max-examples", "30", "--no-color",
            "--phases", "examples,coverage,fuzzing",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,  # its cache stays out of the repo
    )  # fmt: skip
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-4000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated and int(generated[1]) > 100 and generated[1] == generated[2], report[-2000:]
