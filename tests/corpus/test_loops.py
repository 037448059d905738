import dataclasses
from collections import Counter
from functools import cache

import pytest
from symusic import Score

from lofi.analysis.figures import compute_figures
from lofi.corpus import drums, loops
from lofi.corpus.build import _drum_groove, make_plan
from lofi.corpus.quality import check_file
from lofi.corpus.sources import LOOPS_GROOVE_LICENCE, LOOPS_LICENCE, loops_plans
from lofi.instruments import BASS_PROGRAMS, MELODY_PROGRAMS, part_rank
from lofi.theory import BANK, Chord, Key
from lofi.theory.groove import HAND_PERCUSSION, bar_count
from lofi.theory.progressions import realize_numeral

MOODS = tuple(loops.RECIPES)
SAMPLE = 12  # rendered pieces per mood
BAR = loops.BAR
TONIC_CHORD = {"major": "Imaj7", "minor": "i7"}


@cache
def _rendered(mood: str) -> tuple[tuple[loops.Piece, Score], ...]:
    return tuple((piece, loops.render(piece)) for piece in (loops.plan_piece(mood, i) for i in range(SAMPLE)))


def _owners(piece: loops.Piece) -> list[loops.Section]:
    """The section each bar of the piece belongs to."""
    return [section for section in piece.sections for _ in range(section.bars)]


def _form(piece: loops.Piece) -> list[dict]:
    return [{"section": s.name, "bars": s.bars, "drums": s.drums} for s in piece.sections]


def _pitched(score: Score, programs) -> list:
    return [t for t in score.tracks if not t.is_drum and t.program in programs]


def _onset_bars(tracks) -> Counter:
    return Counter(n.time // BAR for t in tracks for n in t.notes)


def _bar_chords(piece: loops.Piece, bar: int) -> list[Chord]:
    """The chords of one bar of the piece as written: its section's loop from the section's start, the tonic
    chord held in the last bar."""
    if bar == piece.bars - 1:
        return [realize_numeral(TONIC_CHORD[piece.key.quality], piece.key)]
    section, offset = [(s, offset) for s in piece.sections for offset in range(s.bars)][bar]
    realized = next(p for p in BANK if p.name == piece.loops[section.loop]).realize(piece.key)
    return list(realized[offset % len(realized)])


def _chord_at(piece: loops.Piece, tick: int) -> Chord:
    chords = _bar_chords(piece, tick // BAR)
    return chords[(tick % BAR) * len(chords) // BAR]


def _written_chords(piece: loops.Piece) -> list[str]:
    """The chord each bar plays as written (the first of the bar)."""
    return [_bar_chords(piece, bar)[0].symbol for bar in range(piece.bars)]


def _notes(score: Score) -> list:
    return [(t.program, t.is_drum, [(n.time, n.duration, n.pitch, n.velocity) for n in t.notes]) for t in score.tracks]


# ---- planning -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mood", MOODS)
def test_plan_piece_is_deterministic_in_mood_index_and_seed(mood):
    assert loops.plan_piece(mood, 3, seed=5) == loops.plan_piece(mood, 3, seed=5)
    assert loops.plan_piece(mood, 3, seed=5) != loops.plan_piece(mood, 4, seed=5)
    assert loops.plan_piece(mood, 3, seed=5) != loops.plan_piece(mood, 3, seed=6)
    assert loops.plan_piece(mood, 3, seed=5).mood == mood


@pytest.mark.parametrize("mood", MOODS)
def test_keys_tempos_and_modes_follow_the_recipe(mood):
    recipe = loops.RECIPES[mood]
    pieces = [loops.plan_piece(mood, i) for i in range(240)]
    assert {p.key.tonic for p in pieces} == set(range(12))
    tempos = [p.bpm for p in pieces]
    assert recipe.bpm[0] <= min(tempos) and max(tempos) <= recipe.bpm[1]
    assert len(set(tempos)) >= (recipe.bpm[1] - recipe.bpm[0]) // 2  # spread over the range, not one tempo
    assert {p.key.mode for p in pieces} <= {"major", "natural_minor"}
    minor = sum(p.key.quality == "minor" for p in pieces) / len(pieces)
    assert minor == pytest.approx(recipe.minor_share, abs=0.1)


@pytest.mark.parametrize("mood", MOODS)
def test_a_piece_is_made_of_its_recipe(mood):
    recipe = loops.RECIPES[mood]
    for i in range(40):
        piece = loops.plan_piece(mood, i)
        assert piece.keys_program in recipe.keys
        assert piece.lead_program is None or piece.lead_program in recipe.leads
        assert piece.pad_program in (None, 48, 89) and piece.pad_program != piece.keys_program
        assert piece.keys_rhythm in recipe.keys_rhythms
        assert piece.bass_style in recipe.bass_styles
        pattern = next(p for p in drums.PATTERNS if p.name == piece.pattern)
        assert set(pattern.tags) & set(recipe.drum_tags), f"{piece.pattern} is not a {recipe.drum_tags} beat"
        assert 0.54 <= piece.swing <= 0.62
        assert len(set(piece.fills)) == 3 and set(piece.fills) <= {f.name for f in drums.FILLS}
        assert piece.drum_groove is None  # no grooves offered
        progressions = [next(p for p in BANK if p.name == name) for name in piece.loops]
        assert {p.mode for p in progressions} == {piece.key.quality}
        assert len(set(piece.loops)) == len(piece.loops)


@pytest.mark.parametrize("mood", MOODS)
def test_the_arrangement(mood):
    for i in range(40):
        piece = loops.plan_piece(mood, i)
        names = [s.name for s in piece.sections]
        assert names in (
            ["intro", "A", "B", "A2", "outro"],
            ["intro", "A", "B", "breakdown", "A2", "outro"],
        )
        for s in piece.sections:
            body = s.name in ("A", "B", "A2")
            assert s.drums == body, f"{s.name}: drums={s.drums}"
            assert s.bass or s.name in ("intro", "outro")
            assert not s.bass or s.name != "intro"  # the intro is the keys alone
            assert s.lead is None or (piece.lead_program is not None and s.name in ("B", "breakdown", "A2"))
            if body:
                assert s.bars % loops.PHRASE == 0
        b = next(s for s in piece.sections if s.name == "B")
        assert (b.lead is not None) == (piece.lead_program is not None)  # the melody comes in at B
        assert b.loop == len(piece.loops) - 1  # the contrast loop, when there is one, plays in B


def test_zoom_grooves_are_drawn_at_their_share():
    pieces = [loops.plan_piece("chill", i, drum_grooves=("HIP01", "HIP02"), groove_share=0.3) for i in range(300)]
    share = sum(p.drum_groove is not None for p in pieces) / len(pieces)
    assert share == pytest.approx(0.3, abs=0.07)
    assert {p.drum_groove for p in pieces} == {None, "HIP01", "HIP02"}
    assert all(loops.plan_piece("chill", i, groove_share=1.0).drum_groove is None for i in range(20))


# ---- rendering ------------------------------------------------------------------------------------------


def test_render_is_deterministic():
    piece = loops.plan_piece("jazzy", 1)
    assert _notes(loops.render(piece)) == _notes(loops.render(piece))
    other = dataclasses.replace(piece, seed=piece.seed + 1)
    assert _notes(loops.render(piece)) != _notes(loops.render(other))


@pytest.mark.parametrize("mood", MOODS)
def test_a_rendered_piece_is_laid_out_like_every_lofi_file(mood):
    for piece, score in _rendered(mood):
        ranks = [part_rank(-1 if t.is_drum else t.program, t.is_drum) for t in score.tracks]
        assert ranks == sorted(ranks), f"tracks out of canonical order: {[t.program for t in score.tracks]}"
        assert [t.is_drum for t in score.tracks][:1] == [True]
        assert len({(t.program, t.is_drum) for t in score.tracks}) == len(score.tracks)
        assert score.tpq == 480
        assert len(score.tempos) == 1 and score.tempos[0].qpm == pytest.approx(piece.bpm, abs=0.01)
        assert [(ts.numerator, ts.denominator) for ts in score.time_signatures] == [(4, 4)]
        assert bar_count(score) == piece.bars
        assert max(n.time + n.duration for t in score.tracks for n in t.notes) <= piece.bars * BAR
        programs = {t.program for t in score.tracks if not t.is_drum}
        assert piece.keys_program in programs
        assert len(programs & BASS_PROGRAMS) == 1


@pytest.mark.parametrize("mood", MOODS)
def test_drums_play_in_every_bar_of_the_sections_that_have_them_and_nowhere_else(mood):
    for piece, score in _rendered(mood):
        drum_bars = _onset_bars([t for t in score.tracks if t.is_drum])
        for bar, section in enumerate(_owners(piece)):
            assert (bar in drum_bars) == section.drums, f"{mood} {piece.seed}: bar {bar} ({section.name})"


@pytest.mark.parametrize("mood", MOODS)
def test_the_lofi_figures_hold(mood):
    for piece, score in _rendered(mood):
        figures = compute_figures(score, form=_form(piece))
        label = f"{mood}, {piece.pattern}, seed {piece.seed}"
        assert figures.backbeat == 1.0, label
        assert figures.drum_coverage == 1.0, label
        assert figures.hand_percussion == 0.0, label
        assert figures.stacked_notes == 0.0, label
        assert figures.swing == pytest.approx(piece.swing, abs=0.01), label


@pytest.mark.parametrize("mood", MOODS)
def test_the_chords_are_rich(mood):
    # the target every lo-fi track meets: sevenths or richer in at least 80% of its bars
    poor = []
    for piece, score in _rendered(mood):
        richness = compute_figures(score, chords=_written_chords(piece)).chord_richness
        if richness < 0.8:
            poor.append(f"{' / '.join(piece.loops)} ({richness:.2f})")
    assert not poor, f"{mood} pieces under the 0.8 chord-richness target: {poor}"


@pytest.mark.parametrize("mood", MOODS)
def test_the_bass_starts_a_note_in_every_bar_of_its_sections_and_plays_one_note_at_a_time(mood):
    for piece, score in _rendered(mood):
        (bass,) = _pitched(score, BASS_PROGRAMS)
        bars = _onset_bars([bass])
        for bar, section in enumerate(_owners(piece)):
            assert (bar in bars) == section.bass, f"{mood} {' / '.join(piece.loops)}: bar {bar} ({section.name})"
        onsets = Counter(n.time for n in bass.notes)
        together = sorted(t / BAR for t, n in onsets.items() if n > 1)
        assert not together, f"{mood} {piece.bass_style} {piece.loops}: two bass notes start at bars {together[:4]}"


@pytest.mark.parametrize("style", ["root", "root-fifth", "kick", "octave"])
def test_half_bar_chords_keep_the_bass_in_its_half(style):
    # "ii9 V7" and "v7 V7/IV": bars of two chords, each half a bar long; the outro rests the bass
    piece = dataclasses.replace(
        loops.plan_piece("chill", 0),
        key=Key(2, "major"),
        loops=("neo-soul cascade", "neo-soul drift"),
        bass_style=style,
    )
    piece = dataclasses.replace(
        piece, sections=(*piece.sections[:-1], dataclasses.replace(piece.sections[-1], bass=False))
    )
    score = loops.render(piece)
    (bass,) = _pitched(score, BASS_PROGRAMS)
    outro_start = (piece.bars - piece.sections[-1].bars) * BAR
    late = [(n.time / BAR, n.pitch) for n in bass.notes if n.time >= outro_start]
    assert not late, f"{style}: bass notes in the outro, which has no bass: {late}"
    onsets = Counter(n.time for n in bass.notes)
    together = sorted(t / BAR for t, n in onsets.items() if n > 1)
    assert not together, f"{style}: two bass notes start together at bars {together[:4]}"
    assert min(n.duration for n in bass.notes) >= loops.STEP // 2, f"{style}: a bass note shorter than a 32nd"


@pytest.mark.parametrize("mood", MOODS)
def test_the_melody_plays_only_where_the_form_has_a_lead(mood):
    with_lead = 0
    for piece, score in _rendered(mood):
        melody = _pitched(score, MELODY_PROGRAMS)
        if piece.lead_program is None:
            assert not melody
            continue
        with_lead += 1
        assert [t.program for t in melody] == [piece.lead_program]
        bars = _onset_bars(melody)
        for bar, section in enumerate(_owners(piece)):
            if section.lead is None:
                assert bar not in bars, f"{mood}: melody in bar {bar} ({section.name}) without a lead"
        for section in piece.sections:
            if section.lead is not None:
                start = sum(s.bars for s in piece.sections[: piece.sections.index(section)])
                assert any(start <= b < start + section.bars for b in bars), f"{mood}: {section.name} is silent"
    assert 0 < with_lead < SAMPLE or loops.RECIPES[mood].lead_share in (0.0, 1.0)


@pytest.mark.parametrize("mood", MOODS)
def test_the_last_bar_rests_on_the_tonic(mood):
    for piece, score in _rendered(mood):
        last = [n.pitch for t in score.tracks if not t.is_drum for n in t.notes if n.time // BAR == piece.bars - 1]
        assert min(last) % 12 == piece.key.tonic, f"{piece.key}: lowest note {min(last)} in the last bar"


@pytest.mark.parametrize("mood", MOODS)
def test_the_keys_play_the_root_under_every_chord(mood):
    # a left-hand root under a right-hand voicing: the chord's lowest note is its root, never an inversion
    for piece, score in _rendered(mood):
        (keys,) = _pitched(score, {piece.keys_program})
        chords: dict[int, list[int]] = {}
        for note in keys.notes:
            chords.setdefault(note.time, []).append(note.pitch)
        inverted = []
        for tick, pitches in sorted(chords.items()):
            chord = _chord_at(piece, tick)
            if min(pitches) % 12 != chord.root:
                inverted.append(f"bar {tick // BAR} {chord.symbol} {sorted(pitches)}")
        assert not inverted, f"{mood} {piece.key}: {len(inverted)} keys chords not on their root, e.g. {inverted[:3]}"


@pytest.mark.parametrize("mood", MOODS)
def test_every_part_stays_in_its_register(mood):
    for piece, score in _rendered(mood):
        for track in score.tracks:
            if track.is_drum:
                continue
            pitches = [n.pitch for n in track.notes]
            if track.program in BASS_PROGRAMS:
                low, high = loops.BASS_LOW, loops.BASS_LOW + 24  # roots an octave up from BASS_LOW, fifths and octaves
            elif track.program == piece.lead_program:
                low, high = loops.LEAD_RANGE
            elif track.program == piece.pad_program:
                low, high = loops.PAD_RANGE
            else:  # the keys: the left-hand root from LEFT_HAND_LOW up, the right hand in KEYS_RANGE
                assert track.program == piece.keys_program
                low, high = loops.LEFT_HAND_LOW, loops.KEYS_RANGE[1]
            out = sorted({p for p in pitches if not low <= p <= high})
            assert not out, f"{mood} {piece.key} program {track.program}: pitches {out} outside {low}-{high}"


def test_the_melody_stays_in_the_lead_range_in_every_key():
    pieces = [p for p in (loops.plan_piece("chill", i) for i in range(12)) if p.lead_program is not None][:3]
    outside = {}
    for piece in pieces:
        for tonic in range(12):
            keyed = dataclasses.replace(piece, key=Key(tonic, piece.key.mode))
            (melody,) = _pitched(loops.render(keyed), {piece.lead_program})
            low = {n.pitch for n in melody.notes if not loops.LEAD_RANGE[0] <= n.pitch <= loops.LEAD_RANGE[1]}
            if low:
                outside[keyed.key.token] = sorted(low | set(outside.get(keyed.key.token, ())))
    assert not outside, f"melody pitches outside LEAD_RANGE {loops.LEAD_RANGE}: {outside}"


def test_a_zoom_groove_replaces_the_bank_and_leaves_its_hand_percussion_out(tmp_path):
    # HIP04 passes the backbeat check but plays hand percussion (GM 54, 70): two MMA runs in all
    plan = next(p for p in loops_plans(24, seed=0, drum_grooves=("HIP04",)) if p.piece.drum_groove)
    piece = plan.piece
    assert piece.drum_groove == "HIP04" and plan.licence == LOOPS_GROOVE_LICENCE
    groove = _drum_groove("HIP04", piece.seed, "mma", tmp_path)
    assert any(n.pitch in HAND_PERCUSSION for t in groove.tracks if t.is_drum for n in t.notes)
    entry = make_plan(plan, tmp_path / "corpus")
    assert (entry.mood, entry.family) == (piece.mood, "lofi")
    score = Score(str(tmp_path / "corpus" / entry.path))
    check_file(tmp_path / "corpus" / entry.path)
    drum_notes = [(n.time, n.pitch) for t in score.tracks if t.is_drum for n in t.notes]
    bank = loops.render(piece)  # the same piece over its bank pattern
    assert drum_notes != [(n.time, n.pitch) for t in bank.tracks if t.is_drum for n in t.notes]
    assert not {p for _, p in drum_notes} & HAND_PERCUSSION
    figures = compute_figures(score, form=_form(piece))
    assert figures.hand_percussion == 0.0
    assert figures.backbeat == 1.0
    assert figures.drum_coverage == 1.0
    assert figures.swing == pytest.approx(piece.swing, abs=0.01)
    drum_bars = _onset_bars([t for t in score.tracks if t.is_drum])
    assert {b for b, s in enumerate(_owners(piece)) if s.drums} == set(drum_bars)


# ---- the loops source and the builder --------------------------------------------------------------------


def test_loops_plans_spread_evenly_over_the_moods():
    plans = loops_plans(80, seed=0)
    assert plans == loops_plans(80, seed=0)
    assert Counter(p.mood for p in plans) == dict.fromkeys(MOODS, 10)
    assert len({p.name for p in plans}) == 80
    assert len({p.piece for p in plans}) == 80
    for plan in plans:
        assert plan.mood == plan.piece.mood
        assert (plan.source, plan.family) == ("loops", "lofi")
        assert (plan.key, plan.bpm) == (plan.piece.key, plan.piece.bpm)
        assert plan.piece.drum_groove is None and plan.licence == LOOPS_LICENCE
        assert plan.song is None and plan.file is None
        assert plan.mood in plan.name and plan.piece.pattern in plan.origin
    assert loops_plans(8, seed=1) != loops_plans(8, seed=0)


def test_loops_plans_name_the_zoom_groove_they_play():
    plans = loops_plans(40, seed=0, drum_grooves=("HIP01",))
    grooved = [p for p in plans if p.piece.drum_groove]
    assert 0 < len(grooved) < len(plans)
    for plan in grooved:
        assert plan.licence == LOOPS_GROOVE_LICENCE
        assert plan.origin.endswith("over HIP01")


def test_make_plan_writes_a_checked_file_labelled_with_the_recipes_mood(tmp_path):
    plans = loops_plans(16, seed=0)
    chosen = [next(p for p in plans if p.piece.lead_program is not None)]
    chosen.append(next(p for p in plans if p.piece.lead_program is None))
    for plan in chosen:
        entry = make_plan(plan, tmp_path)
        path = tmp_path / entry.path
        assert path.is_file() and path.suffix == ".mid"
        checked = check_file(path)
        assert entry.accepted and entry.source == "loops"
        assert (entry.mood, entry.family) == (plan.piece.mood, "lofi")
        assert entry.key == plan.piece.key.token
        assert entry.bpm == pytest.approx(plan.piece.bpm, abs=0.01)
        assert entry.bars == plan.piece.bars == checked.bars
        assert entry.licence == LOOPS_LICENCE
        playing = plan.piece.lead_program is not None
        assert entry.has_lead == playing
        assert (plan.piece.lead_program in entry.programs) == playing
        assert -1 in entry.programs and plan.piece.keys_program in entry.programs
