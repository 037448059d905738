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
        (lambda s: s.tempos[0].__setattr__("qpm", 180.0), "tempo 180 BPM"),
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
