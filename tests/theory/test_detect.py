import pytest
from symusic import Note, Score, TimeSignature, Track

from lofi.theory import Chord, Key, KeyEstimate, detect_chords, detect_key, voicing

TPQ = 480

# Bach chorales from music21's corpus with their keys, chosen by a rule fixed before any detection ran:
# for each key, the first two chorales (corpus order) whose bass starts and ends on the tonic that the key
# signature implies. Two of them (bwv2.6, bwv153.1) set the modal tune "Ach Gott, vom Himmel sieh darein".
CHORALES = {
    "bwv112.5": "G major", "bwv115.6": "G major", "bwv111.6": "A minor", "bwv126.6": "A minor",
    "bwv11.6": "D major", "bwv133.6": "D major", "bwv104.6": "A major", "bwv116.6": "A major",
    "bwv12.7": "Bb major", "bwv13.6": "Bb major", "bwv1.6": "F major", "bwv146.8": "F major",
    "bwv10.7": "G minor", "bwv114.7": "G minor", "bwv125.6": "E minor", "bwv153.1": "E minor",
    "bwv130.6": "C major", "bwv137.5": "C major", "bwv103.6": "B minor", "bwv108.6": "B minor",
    "bwv101.7": "D minor", "bwv2.6": "D minor", "bwv140.7": "Eb major", "bwv159.5": "Eb major",
    "bwv124.6": "E major", "bwv139.6": "E major", "bwv148.6": "F# minor", "bwv323": "F# minor",
    "bwv285": "C minor", "bwv384": "C minor", "bwv244.10": "Ab major",
}  # fmt: skip


def _related(found: Key, truth: Key) -> bool:
    """Relative, parallel, or a fifth away in the same mode: the confusions a profile method is known for."""
    return (
        found.relative == truth
        or found.tonic == truth.tonic
        or (found.mode == truth.mode and (found.tonic - truth.tonic) % 12 in (5, 7))
    )


@pytest.fixture(scope="module")
def chorales(tmp_path_factory) -> dict[str, tuple[Key, Score]]:
    """Each chorale written to MIDI by music21 and read back with symusic, as the studio would see it."""
    import music21.corpus as corpus  # a dev dependency: missing, the test fails

    folder = tmp_path_factory.mktemp("chorales")
    loaded = {}
    for name, key in CHORALES.items():
        path = folder / f"{name}.mid"
        corpus.parse(f"bach/{name}").write("midi", fp=path)
        loaded[name] = (Key.parse(key), Score.from_file(str(path)))
    return loaded


def _score(*tracks: Track) -> Score:
    score = Score(TPQ)
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for track in tracks:
        score.tracks.append(track)
    return score


def _drums(beats: int) -> Track:
    kit = Track("drums", 0, True)
    for beat in range(beats):  # a kick on every beat: pitch class 0 and 2 would pull towards C major
        kit.notes.append(Note(beat * TPQ, TPQ // 2, 36, 100))
        kit.notes.append(Note(beat * TPQ, TPQ // 4, 38, 100))
    return kit


def test_key_detection_on_bach_chorales(chorales):
    found = {name: detect_key(score).key for name, (_, score) in chorales.items()}
    exact = [name for name, (truth, _) in chorales.items() if found[name] == truth]
    assert len(exact) / len(chorales) >= 0.8
    for name, (truth, _) in chorales.items():
        assert found[name] == truth or _related(found[name], truth), (name, truth.name, found[name].name)


def test_temperley_profile_also_finds_the_chorale_keys(chorales):
    exact = sum(detect_key(score, "temperley").key == truth for truth, score in chorales.values())
    assert exact / len(chorales) >= 0.7


@pytest.mark.parametrize("shift", [1, 5, -3])
def test_key_detection_transposes_with_the_music(chorales, shift):
    truth, score = chorales["bwv1.6"]
    estimate = detect_key(score.shift_pitch(shift))
    assert estimate.key == truth.transpose(shift)
    assert estimate.correlation == pytest.approx(detect_key(score).correlation)


def test_c_major_scale_is_c_major():
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    estimate = detect_key([(p, 1.0) for p in scale])
    assert estimate.key == Key(0, "major")
    assert estimate.runner_up != estimate.key
    assert 0.5 < estimate.correlation <= 1.0

    piano = Track("piano", 0, False)
    for i, p in enumerate(scale):
        piano.notes.append(Note(i * TPQ, TPQ, p, 80))
    assert detect_key(_score(piano, _drums(8))).key == Key(0, "major")


def test_duration_weighting_decides_between_relatives():
    # the same white notes; holding the A minor triad makes it A minor, holding the C major triad C major
    notes = [60, 62, 64, 65, 67, 69, 71]
    a_minor = [(p, 4.0 if p % 12 in (9, 0, 4) else 0.5) for p in notes]
    c_major = [(p, 4.0 if p % 12 in (0, 4, 7) else 0.5) for p in notes]
    assert detect_key(a_minor).key == Key(9, "natural_minor")
    assert detect_key(c_major).key == Key(0, "major")


def test_no_pitched_notes_is_an_error():
    with pytest.raises(ValueError, match="no pitched notes"):
        detect_key(_score(_drums(4)))
    with pytest.raises(ValueError, match="no pitched notes"):
        detect_key([])
    with pytest.raises(ValueError, match="krumhansl"):
        detect_key([(60, 1.0)], profile="nope")


def test_key_estimate_is_a_plain_record():
    estimate = detect_key([(57, 2.0), (60, 1.0), (64, 2.0), (65, 1.0), (62, 1.0), (59, 1.0), (56, 1.0)])
    assert isinstance(estimate, KeyEstimate)
    assert estimate.key.mode in ("major", "natural_minor")
    assert estimate.key == Key(9, "natural_minor")


# chord detection on a hand-built score: one chord per beat, bass an octave below, drums on top
BEATS = [
    "Cmaj7", "Am7", "Dm7", "G7", "C", "F", "Bm7b5", "E7", "Am", "Bdim7", "Dsus4", "Ebaug", None, "C/E", "Gm7", "C7",
]  # fmt: skip


@pytest.fixture(scope="module")
def built() -> Score:
    keys, bass = Track("keys", 0, False), Track("bass", 33, False)
    for beat, symbol in enumerate(BEATS):
        if symbol is None:
            continue
        chord = Chord.parse(symbol)
        low = chord.root if chord.bass is None else chord.bass
        bass.notes.append(Note(beat * TPQ, TPQ, 36 + low, 90))
        for pitch in voicing(chord, 55, 79, "close"):
            keys.notes.append(Note(beat * TPQ, TPQ - 20, pitch, 70))  # slightly detached, as players do
    return _score(keys, bass, _drums(len(BEATS)))


def test_detect_chords_per_beat_on_a_built_score(built):
    found = detect_chords(built)
    assert len(found) == len(BEATS)
    for symbol, chord in zip(BEATS, found, strict=True):
        if symbol is None:
            assert chord is None
        else:
            expected = Chord.parse(symbol)
            assert chord == Chord(expected.root, expected.quality), symbol  # slash basses are not reported


def test_detect_chords_per_bar_follows_the_time_signature():
    keys = Track("keys", 0, False)
    for bar, symbol in enumerate(["Dm7", "G7", "Cmaj7", "Fmaj7"]):
        for pitch in voicing(Chord.parse(symbol), style="drop2"):
            keys.notes.append(Note(bar * 3 * TPQ, 3 * TPQ, pitch, 70))
        keys.notes.append(Note(bar * 3 * TPQ + TPQ, TPQ // 2, 74, 70))  # a passing melody note
    score = Score(TPQ)
    score.time_signatures.append(TimeSignature(0, 3, 4))
    score.tracks.append(keys)
    assert [c.symbol for c in detect_chords(score, per="bar")] == ["Dm7", "G7", "Cmaj7", "Fmaj7"]
    assert len(detect_chords(score)) == 12
    assert detect_chords(score.to("quarter"), per="bar") == detect_chords(score, per="bar")


def test_detect_chords_edge_cases(built):
    assert detect_chords(_score(_drums(4))) == []
    single = Track("lead", 0, False)
    single.notes.append(Note(0, TPQ, 60, 80))
    assert detect_chords(_score(single)) == [None]  # one note names no chord
    with pytest.raises(ValueError, match="'beat' or 'bar'"):
        detect_chords(built, per="measure")


@pytest.fixture(scope="module", params=["fosterBrownHair", "berlinAlexandersRagtime"])
def lead_sheet(request) -> tuple[Score, list[Chord | None]]:
    """A music21 lead sheet played as MIDI: its melody plus each chord symbol held until the next one.

    Returns the score and the written chord of every beat (None before the first symbol).
    """
    import music21 as m21

    sheet = m21.corpus.parse(f"leadSheet/{request.param}.mxl").flatten()
    symbols = list(sheet.getElementsByClass(m21.harmony.ChordSymbol))
    melody, comping = Track("melody", 0, False), Track("comping", 0, False)
    for n in sheet.notes:
        if not isinstance(n, m21.harmony.ChordSymbol):
            for p in n.pitches:
                melody.notes.append(Note(round(n.offset * TPQ), round(n.quarterLength * TPQ), p.midi, 80))
    end = sheet.highestTime
    truth: list[Chord | None] = [None] * int(end)
    for symbol, following in zip(symbols, [*symbols[1:], None], strict=True):
        start, stop = symbol.offset, following.offset if following is not None else end
        for p in symbol.pitches:
            comping.notes.append(Note(round(start * TPQ), round((stop - start) * TPQ), p.midi, 60))
        chord = Chord.parse(symbol.figure.replace("-", "b"))
        for beat in range(int(start), int(stop)):
            truth[beat] = chord
    return _score(melody, comping), truth


def test_detect_chords_on_a_real_lead_sheet(lead_sheet):
    score, truth = lead_sheet
    found = detect_chords(score)
    judged = [(t, f) for t, f in zip(truth, found, strict=False) if t is not None]
    assert len(judged) > 100
    roots = sum(f is not None and f.root == t.root for t, f in judged) / len(judged)
    exact = sum(f == t for t, f in judged) / len(judged)
    assert roots >= 0.85
    assert exact >= 0.75
