from lofi.compose import Composer, ComposeRequest


def test_hf_and_lean_engines_compose_the_same_track(tiny_checkpoint):
    request = ComposeRequest(mood="chill", bpm=80, key="Bb major", minutes=0.3, seed=11)
    hf = Composer(tiny_checkpoint, engine="hf").compose(request)
    lean = Composer(tiny_checkpoint, engine="lean").compose(request)
    assert hf.metadata["engine"] == "hf" and lean.metadata["engine"] == "lean"
    assert hf.score.dumps_midi() == lean.score.dumps_midi()


def test_the_engine_comes_from_settings(tiny_checkpoint, lofi_home, monkeypatch):
    from lofi.settings import get_settings

    monkeypatch.setenv("LOFI_ENGINE", "hf")
    get_settings.cache_clear()
    assert Composer(tiny_checkpoint).engine_name == "hf"
