import os

import pytest
import torch

# Tests run in parallel workers, one per core: a second torch thread per worker oversubscribes the
# machine, and torch then runs many times slower. Child processes inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def lofi_home(tmp_path, monkeypatch):
    """A fresh LOFI_HOME for one test, with the settings cache cleared around it."""
    from lofi.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("LOFI_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
