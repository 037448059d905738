import pytest
from symusic import Score

from lofi.corpus import mma
from lofi.corpus.quality import normalize
from lofi.corpus.sources import mma_plans
from lofi.theory import Chord

PADS = {48, 89}  # strings and warm pad after folding
CHORDS = tuple((Chord.parse(c),) for c in ("Dm9", "G13", "Cmaj7", "A7b9"))


def _grooves(family: str) -> list[str]:
    names = []
    for base in mma.GROOVES[family]:
        names.append(base)
        names += [v for v in (mma.variant(base, s) for s in ("Sus", "Walk", "1", "Plus", "Intro", "End")) if v]
    return names


@pytest.mark.parametrize("family", list(mma.GROOVES))
def test_every_groove_renders_bars_of_real_parts(tmp_path, family):
    # one song per family, each groove playing its own 8 bars: one MMA run checks them all
    grooves = _grooves(family)
    song = mma.Song(bpm=80, seed=1, parts=tuple(mma.Part(g, CHORDS * 2) for g in grooves))
    score = normalize(Score(str(mma.render(song, tmp_path / "g.mid"))))
    assert [round(t.qpm) for t in score.tempos][:1] == [80]
    assert score.end() / score.tpq / 4 == pytest.approx(8 * len(grooves), abs=1.1)
    bar = 4 * score.tpq
    for i, groove in enumerate(grooves):
        start, end = i * 8 * bar, (i + 1) * 8 * bar
        parts = [(t, [n for n in t.notes if start <= n.time < end]) for t in score.tracks if not t.is_drum]
        parts = [(t, notes) for t, notes in parts if notes]
        assert parts, f"{groove}: plays no chords or bass"
        # pads may hold a common tone across chords; every other part re-strikes within two bars
        played = [notes for t, notes in parts if t.program not in PADS] or [notes for _, notes in parts]
        longest = max(n.duration for notes in played for n in notes) / score.tpq
        assert longest <= 8, f"{groove}: a note held for {longest} beats"


def test_an_mma_failure_is_reported_with_its_message(tmp_path):
    song = mma.Song(bpm=80, seed=1, parts=(mma.Part("NoSuchGroove", CHORDS),))
    with pytest.raises(mma.MMAError, match="MMA failed"):
        mma.render(song, tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()


def test_a_missing_mma_says_how_to_install_it(tmp_path):
    song = mma.Song(bpm=80, seed=1, parts=(mma.Part("Swing", CHORDS),))
    with pytest.raises(mma.MMAError, match="make setup"):
        mma.render(song, tmp_path / "x.mid", mma_bin="/nonexistent/mma")


def test_rendering_is_reproducible(tmp_path):
    song = mma_plans(1, seed=3)[0].song
    a = mma.render(song, tmp_path / "a.mid").read_bytes()
    b = mma.render(song, tmp_path / "b.mid").read_bytes()
    assert a == b


def test_plans_cover_all_keys_and_are_deterministic():
    plans = mma_plans(48, seed=0)
    assert plans == mma_plans(48, seed=0)
    assert {p.key.tonic for p in plans} == set(range(12))
    assert {p.key.quality for p in plans} == {"major", "minor"}
    assert len({p.name for p in plans}) == 48
    for p in plans:
        assert 60 <= p.bpm <= 95
        assert p.song.parts[-1].bars[-1][0].root == p.key.tonic  # every song ends on its tonic
        names = [part.groove for part in p.song.parts]
        assert len(set(names)) >= 2  # the B section changes the groove's texture
    assert plans != mma_plans(48, seed=1)


def test_song_text_lists_every_bar():
    song = mma_plans(1)[0].song
    text = mma.song_text(song)
    assert text.count("\nGroove ") == len(song.parts)
    assert f"\n{song.bar_count} " in text
    assert text.isascii()
