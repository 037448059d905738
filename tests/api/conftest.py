"""A real server for the API tests: the app with its embedded workers, the tiny model, a SQLite catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_helpers import make_settings
from lofi.api import create_app


@pytest.fixture(scope="module")
def api_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-home")


@pytest.fixture(scope="module")
def client(api_home, tiny_checkpoint) -> Iterator[TestClient]:
    """The app with its embedded worker process; the catalog and tracks under a fresh home.

    LOFI_HOME is set in the environment too, as a deployment would, so the worker processes see it.
    """
    from lofi.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOFI_HOME", str(api_home))
        env.setenv("LOFI_DEFAULT_MODEL", str(tiny_checkpoint.path))
        get_settings.cache_clear()
        settings = make_settings(api_home, Path(tiny_checkpoint.path), rate_limit="1000/minute")
        with TestClient(create_app(settings)) as client:
            yield client
    get_settings.cache_clear()
