"""The form of a track: which loop plays in which bars, and which layers play over it.

A track is built from loops the model writes (LOOP_BARS bars of drums, bass and chords). Sections play a
loop again and again; what changes from one section to the next are the layers, the way producers arrange
loops: the intro has the keys and the bass, the drums come in at A, a melody at A', a breakdown drops the
drums, A'' brings a new melody, the outro drops drums and melody and ends on the tonic. Longer tracks get
more loops (a new one every few minutes: B, C...), each with melodies of its own, and return to the first.
The bass stays under the intro and the outro so that their bars name the same chords as the loop's: the
harmony a listener (or a chord finder) hears keeps looping from the first bar to the last.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

LOOP_BARS = 4
PHRASE_BARS = 8  # a fill closes every phrase
BARS_PER_NEW_LOOP = 64  # past the first 16 bars of the body, one more loop for each this many bars
MAX_LOOPS = 4
MAX_MELODIES_PER_LOOP = 3  # melodies written over one loop; sections beyond that play them again


@dataclass(frozen=True)
class Section:
    name: str  # intro | A | A' | breakdown | A'' | B | B' ... | outro: the letter is the loop
    bars: int
    loop: int  # the loop it plays (0 is the first)
    drums: bool
    bass: bool
    melody: int | None = None  # the melody it plays over the loop (an index), None for none
    keys: bool = True

    def to_dict(self) -> dict:
        """metadata.json's entry: the arrangement anyone can check against the MIDI."""
        data = asdict(self)
        data["section"] = data.pop("name")
        data["melody"] = self.melody is not None
        return data


def frame_bars(total_bars: int) -> tuple[int, int]:
    """Bars of the intro and of the outro."""
    if total_bars >= 32:
        return 4, 4
    if total_bars >= 8:
        return 2, 2
    return 0, 1


def loop_count(body_bars: int) -> int:
    return max(1, min(MAX_LOOPS, 1 + (body_bars - 16) // BARS_PER_NEW_LOOP))


# (name, bars, drums, melody) of a movement over one loop; the letter names the loop (A the first, B...),
# the primes the melodies over it
_FIRST = (("{}", 8, True, False), ("{}'", 8, True, True), ("breakdown", 4, False, False), ("{}''", 8, True, True))
_RETURN = (("{}", 8, True, True), ("breakdown", 4, False, False), ("{}'", 8, True, True))
_OTHER = (("{}", 8, True, True), ("{}'", 8, True, True), ("{}''", 8, True, True))


def _movements(loops: int):
    """Movements in order, forever: the first loop, then each other loop with a return to the first."""
    yield 0, _FIRST
    while True:
        for loop in range(1, loops):
            yield loop, _OTHER
            yield 0, _RETURN
        if loops == 1:
            yield 0, _RETURN


def _body(bars: int, loops: int) -> list[Section]:
    if bars < PHRASE_BARS:
        return [Section("A", bars, 0, drums=True, bass=True)]
    sections: list[Section] = []
    melodies: dict[int, int] = {}  # loop -> melodies written over it so far
    left = bars
    for loop, movement in _movements(loops):
        for name, length, drums, melody in movement:
            if left <= 0:
                return sections
            if not drums and left < length + PHRASE_BARS:
                continue  # a breakdown needs a section with drums after it to return to
            length = left if left < length + LOOP_BARS else length  # the last section takes the rest
            index = None
            if melody:
                index = melodies.get(loop, 0)
                melodies[loop] = index + 1
            letter = "ABCDEFGH"[loop]
            sections.append(Section(name.format(letter), length, loop, drums, bass=True, melody=index))
            left -= length
    return sections


def plan(total_bars: int) -> list[Section]:
    """Intro, the body's sections, outro: exactly ``total_bars`` bars."""
    if total_bars < 3:
        raise ValueError("a track needs at least 3 bars")
    intro, outro = frame_bars(total_bars)
    body = total_bars - intro - outro
    sections = [Section("intro", intro, 0, drums=False, bass=True)] if intro else []
    sections += _body(body, loop_count(body))
    sections.append(Section("outro", outro, 0, drums=False, bass=True))
    return sections


def melodies(sections: list[Section]) -> list[tuple[int, int]]:
    """The (loop, index) of every distinct melody the sections play, each written once."""
    wanted = sorted({(s.loop, s.melody % MAX_MELODIES_PER_LOOP) for s in sections if s.melody is not None})
    return wanted


def melody_of(section: Section) -> tuple[int, int] | None:
    return None if section.melody is None else (section.loop, section.melody % MAX_MELODIES_PER_LOOP)
