import pytest
from symusic import Score

from lofi.corpus import mma
from lofi.corpus.build import lofi_grooves, make_plan
from lofi.corpus.moods import mood_for
from lofi.corpus.quality import check_file, normalize
from lofi.corpus.sources import mma_plans
from lofi.theory import Chord
from lofi.theory.groove import HAND_PERCUSSION

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


def _count_runs(monkeypatch) -> list:
    """The songs MMA is asked to render from here on."""
    runs = []
    real = mma.render

    def counted(song, *args, **kwargs):
        runs.append(song)
        return real(song, *args, **kwargs)

    monkeypatch.setattr(mma, "render", counted)
    return runs


def test_the_lofi_grooves_are_all_defined_by_mma():
    names = [*mma.DRUM_GROOVES, *(g for family in mma.LOFI_GROOVES.values() for g in family)]
    assert len(set(names)) == len(names)
    assert [g for g in names if g.lower() not in mma.defined_grooves()] == []


def test_vet_keeps_drum_machines_with_a_backbeat_and_says_why_it_drops_the_others(monkeypatch):
    runs = _count_runs(monkeypatch)
    grooves = (*mma.DRUM_GROOVES, "Lullaby", "SlowJazz")
    verdicts = mma.vet(grooves)
    assert len(runs) == 1, "one MMA run for every groove"
    assert tuple(verdicts) == grooves
    assert verdicts["HIP01"] is None
    assert "backbeat" in verdicts["HIP03"]
    assert verdicts["HIP04"] is None  # it plays hand percussion, which the corpus leaves out: no reason to drop
    assert verdicts["Lullaby"] == f"drums in 0 of {mma.VET_BARS} bars"
    assert verdicts["SlowJazz"] == "no kick"  # brushes on a snare, no kick drum
    for prefix in ("HIP", "RnB", "TRIP"):
        kept = [g for g in mma.DRUM_GROOVES if g.startswith(prefix) and verdicts[g] is None]
        assert kept, f"no {prefix} groove passes"
    assert sum(v is None for v in verdicts.values()) >= 20


def test_a_band_must_also_state_seventh_chords(monkeypatch):
    runs = _count_runs(monkeypatch)
    verdicts = mma.vet(("Hip-Hop", "MellowRB", "TripHop", "HIP01"), band=True)
    assert len(runs) == 1
    assert verdicts["Hip-Hop"] is None
    assert "backbeat" in verdicts["MellowRB"]
    assert verdicts["TripHop"].startswith("seventh chords in")
    assert verdicts["HIP01"].startswith("seventh chords in 0")  # drums only: fine as a beat, not as a band


def test_lofi_grooves_keep_the_bands_that_pass(monkeypatch):
    runs = _count_runs(monkeypatch)
    kept = lofi_grooves()
    assert len(runs) == 1
    assert set(kept) == set(mma.LOFI_GROOVES)
    for family, grooves in kept.items():
        assert set(grooves) <= set(mma.LOFI_GROOVES[family])
    assert "Hip-Hop" in kept["hiphop"]
    assert "MellowRB" not in kept["rnb"]


def test_band_plans_take_their_families_from_the_grooves_given():
    grooves = {"hiphop": ("Hip-Hop",), "rnb": (), "triphop": ("Slow16Beat",)}
    plans = mma_plans(24, seed=0, grooves=grooves, source="mma-lofi")
    assert plans == mma_plans(24, seed=0, grooves=grooves, source="mma-lofi")
    assert {p.family for p in plans} == {"hiphop", "triphop"}  # a family left with no groove plays nothing
    assert len({p.name for p in plans}) == 24
    for p in plans:
        assert p.source == "mma-lofi"
        base = grooves[p.family][0]
        assert p.origin.startswith(f"{base}:")
        assert base in {part.groove for part in p.song.parts}

    assert [p.song for p in plans[:4]] != [p.song for p in mma_plans(4, seed=0, grooves=grooves)]


def test_a_band_song_is_written_without_its_hand_percussion(tmp_path):
    plan = next(
        p for p in mma_plans(8, seed=0, grooves={"hiphop": ("Hip-Hop",)}, source="mma-lofi") if p.family == "hiphop"
    )
    raw = Score(str(mma.render(plan.song, tmp_path / "raw.mid")))
    assert {
        n.pitch for t in raw.tracks if t.is_drum for n in t.notes
    } & HAND_PERCUSSION  # Hip-Hop plays congas and claves
    entry = make_plan(plan, tmp_path / "corpus")
    written = check_file(tmp_path / "corpus" / entry.path).score
    drums = {n.pitch for t in written.tracks if t.is_drum for n in t.notes}
    assert drums and not drums & HAND_PERCUSSION
    assert (entry.source, entry.family) == ("mma-lofi", "hiphop")
    assert entry.mood == mood_for("hiphop", plan.key.quality, entry.bpm)


def test_a_stdlib_bossa_song_is_written_without_its_congas(tmp_path):
    # no mood asks for hand percussion: the old families lose it too when the corpus is built
    plan = next(p for p in mma_plans(8, seed=0, grooves={"bossa": ("BossaNova",)}))
    raw = Score(str(mma.render(plan.song, tmp_path / "raw.mid")))
    assert {n.pitch for t in raw.tracks if t.is_drum for n in t.notes} & HAND_PERCUSSION
    entry = make_plan(plan, tmp_path / "corpus")
    written = check_file(tmp_path / "corpus" / entry.path).score
    drums = {n.pitch for t in written.tracks if t.is_drum for n in t.notes}
    assert drums and not drums & HAND_PERCUSSION
