import pytest
from symusic import TimeSignature

from helpers import make_score, write_score
from lofi.corpus.quality import Rejected, check_file, check_score, normalize


def test_a_good_piece_passes_with_its_facts(tmp_path):
    path = write_score(make_score(bars=12, bpm=80), tmp_path / "ok.mid")
    checked = check_file(path)
    assert checked.bpm == pytest.approx(80)
    assert checked.bars == 12
    assert checked.seconds == pytest.approx(12 * 4 * 60 / 80, abs=0.1)
    assert checked.programs == [-1, 4, 33]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s.time_signatures.__setitem__(0, TimeSignature(0, 3, 4)), "time signature 3/4"),
        (lambda s: s.tempos[0].__setattr__("qpm", 40.0), "tempo 40 BPM"),
        (lambda s: [t.notes.clear() for t in s.tracks], "no notes"),
        (lambda s: s.tracks.pop(1) and s.tracks.pop(0), "drums only"),
    ],
)
def test_rejections_say_why(change, reason):
    score = make_score(bars=12)
    change(score)
    with pytest.raises(Rejected, match=reason):
        check_score(score)


def test_too_short_is_rejected():
    with pytest.raises(Rejected, match="duration"):
        check_score(make_score(bars=2, bpm=120))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"hello, not music", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01", "unreadable MIDI"),
    ],
)
def test_damaged_files_are_rejected_not_raised(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(Rejected, match=reason):
        check_file(path)


def test_a_truncated_file_is_rejected(tmp_path):
    good = write_score(make_score(bars=12), tmp_path / "good.mid").read_bytes()
    path = tmp_path / "cut.mid"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(Rejected):
        check_file(path)


def test_normalize_folds_programs_onto_the_palette_and_drops_effects():
    score = make_score(bars=1, program=1)  # bright piano folds onto piano
    score.tracks[1].program = 38  # synth bass folds onto electric bass
    fx = score.tracks[0].copy()
    fx.program = 122  # seashore: dropped
    score.tracks.append(fx)
    out = normalize(score)
    assert sorted((t.program, t.is_drum) for t in out.tracks) == [(0, False), (0, True), (33, False)]


def test_a_fast_piece_is_slowed_into_range_not_rejected():
    checked = check_score(make_score(bars=24, bpm=180))
    assert checked.bpm == pytest.approx(90)
    assert checked.bars == 24


def test_overlapping_repeats_of_a_pitch_are_cut_at_the_next_onset():
    score = make_score(bars=1, drums=False)
    keys = score.tracks[0]
    keys.notes.clear()
    from symusic import Note

    keys.notes.extend([Note(0, 4000, 60, 80), Note(480, 4000, 60, 80), Note(960, 100, 64, 80)])
    out = normalize(score)
    keys = next(t for t in out.tracks if t.program == 4)
    durations = sorted((n.time, n.duration) for n in keys.notes if n.pitch == 60)
    assert durations == [(0, 480), (480, 4000)]


def test_parts_come_in_the_canonical_order():
    # the tokens of one position follow the track order: drums first, then bass, harmony, melody
    score = make_score(bars=2)  # keys, bass, drums
    from symusic import Note, Track

    flute = Track(name="flute", program=73)
    flute.notes.append(Note(0, 480, 72, 80))
    score.tracks.insert(0, flute)
    assert [(t.is_drum, t.program) for t in normalize(score).tracks] == [
        (True, 0),
        (False, 33),
        (False, 4),
        (False, 73),
    ]
