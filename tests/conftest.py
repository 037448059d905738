import pytest


@pytest.fixture
def lofi_home(tmp_path, monkeypatch):
    """A fresh LOFI_HOME for one test, with the settings cache cleared around it."""
    from lofi.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("LOFI_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
