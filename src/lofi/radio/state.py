"""What the radio can be asked for, how intensity becomes layers, and the drift rule between tracks.

The state has two halves. **Layers** (intensity) change what is heard of the music already rendered:
which parts play and how open the low-pass is; they take effect at the next phrase boundary with no new
music. **Music** (mood, key, tempo range, feel) needs a new track composed in the new state; it starts on
the first phrase boundary after it is ready, and the radio drifts on from there.

The drift rule, from one track to the next when nobody asks for anything (seeded, so a run can be
replayed): the mood stays with probability 0.6, else moves one step either way around ``MOOD_WHEEL``,
keeping to the feel's moods when a feel is set; the key stays with probability 0.4, else moves to a
neighbour (a fifth up or down, or the relative major/minor) among ``DRIFT_KEYS`` (minor keys only when
the feel is "tense"); the tempo moves by up to 4 BPM, kept in the tempo range (its lower half when the
feel is "calm", its upper half when "tense"); a track lasts 2 to 3 minutes. A mood or key the state
names is kept until the state changes it.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace

from lofi.limits import TEMPO_RANGE
from lofi.moods import MOODS, check_mood
from lofi.theory import Key

FEELS = ("calm", "tense")
# neighbours are moods that sit well one after another on a stream
MOOD_WHEEL = ("chill", "jazzy", "upbeat", "nostalgic", "dreamy", "sleepy", "rainy", "sad")
FEEL_MOODS = {
    "calm": ("chill", "dreamy", "sleepy", "rainy", "nostalgic"),
    "tense": ("sad", "rainy", "jazzy", "upbeat"),
}
DRIFT_KEYS = (
    "C major", "G major", "D major", "F major", "Bb major", "Eb major",
    "A minor", "E minor", "B minor", "D minor", "G minor", "C minor", "F minor",
)  # fmt: skip
DEFAULT_TEMPO = (70, 88)
TRACK_MINUTES = (2.0, 3.0)
LAYERS = ("drums", "bass", "keys", "lead")  # the radio's stems: every part of a track is one of these
assert set(FEEL_MOODS["calm"]) | set(FEEL_MOODS["tense"]) <= set(MOODS) == set(MOOD_WHEEL)


@dataclass(frozen=True)
class Levels:
    """What an intensity sounds like: a gain per layer and the low-pass cutoff."""

    gains: dict[str, float]
    cutoff_hz: float


def levels(intensity: float) -> Levels:
    """Intensity to layers: below 0.25 the drums are out; below 0.5 the lead is out; the low-pass opens
    from 1.8 kHz at 0 to 18 kHz at 1 (a factor of ten, even steps to the ear); bass and keys always play,
    the bass a little lower when the drums are out so the low end does not swell."""
    drums = 0.0 if intensity < 0.25 else 0.8 + 0.2 * min(1.0, (intensity - 0.25) / 0.5)
    gains = {"drums": drums, "bass": 0.85 if drums == 0 else 1.0, "keys": 1.0, "lead": 0.0 if intensity < 0.5 else 1.0}
    return Levels(gains, 1800.0 * 10**intensity)


@dataclass(frozen=True)
class RadioState:
    mood: str | None = None  # None: the drift chooses
    intensity: float = 0.6
    tempo: tuple[int, int] = DEFAULT_TEMPO  # BPM, inclusive
    key: str | None = None  # None: the drift chooses
    feel: str | None = None  # "calm", "tense" or None (any)

    def __post_init__(self) -> None:
        if self.mood is not None:
            object.__setattr__(self, "mood", check_mood(self.mood))
        if not 0.0 <= float(self.intensity) <= 1.0:
            raise ValueError(f"intensity must be between 0 and 1 (got {self.intensity})")
        object.__setattr__(self, "intensity", round(float(self.intensity), 3))  # OSC sends float32: 0.30000001
        low, high = (int(x) for x in self.tempo)
        if not TEMPO_RANGE[0] <= low <= high <= TEMPO_RANGE[1]:
            raise ValueError(
                f"tempo must be a range low-high within {TEMPO_RANGE[0]}-{TEMPO_RANGE[1]} BPM (got {low}-{high})"
            )
        object.__setattr__(self, "tempo", (low, high))
        if self.key is not None:
            object.__setattr__(self, "key", Key.parse(self.key).name)
        if self.feel is not None and self.feel not in FEELS:
            raise ValueError(f"feel must be one of {', '.join(FEELS)} (got {self.feel!r})")
        if self.mood is not None and self.feel is not None and self.mood not in FEEL_MOODS[self.feel]:
            raise ValueError(
                f"mood {self.mood!r} does not go with feel {self.feel!r}: "
                f"choose one of {', '.join(FEEL_MOODS[self.feel])}, or no mood"
            )

    def changed(self, **changes: object) -> RadioState:
        """A copy with ``changes`` (a key given as None or "" lets the drift choose it again)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown state field(s): {', '.join(sorted(unknown))}")
        cleaned = {name: (None if value == "" else value) for name, value in changes.items()}
        if "tempo" in cleaned and cleaned["tempo"] is None:
            cleaned["tempo"] = DEFAULT_TEMPO
        if "intensity" in cleaned and cleaned["intensity"] is None:
            raise ValueError("intensity must be a number between 0 and 1")
        feel_moods = FEEL_MOODS.get(str(cleaned.get("feel")), MOODS)
        if cleaned.get("feel") and "mood" not in cleaned and self.mood not in feel_moods:
            cleaned["mood"] = None  # a new feel frees a mood that does not go with it
        return replace(self, **cleaned)

    def music_differs(self, other: RadioState) -> bool:
        """Whether going from this state to ``other`` needs new music (anything but intensity)."""
        return (self.mood, self.tempo, self.key, self.feel) != (other.mood, other.tempo, other.key, other.feel)

    def fits(self, spec: PieceSpec) -> bool:
        """Whether a track made for ``spec`` is in this state."""
        low, high = self.tempo
        moods = FEEL_MOODS[self.feel] if self.feel else MOODS
        minor_only = self.feel == "tense"
        return (
            (self.mood is None or spec.mood == self.mood)
            and spec.mood in moods
            and (self.key is None or Key.parse(spec.key) == Key.parse(self.key))
            and (not minor_only or Key.parse(spec.key).mode != "major")
            and low <= spec.bpm <= high
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tempo"] = list(self.tempo)
        return data


@dataclass(frozen=True)
class PieceSpec:
    """One track the producer is asked for."""

    mood: str
    key: str
    bpm: int
    minutes: float
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def _neighbour_keys(key: str) -> list[str]:
    parsed = Key.parse(key)
    minor = parsed.mode != "major"
    relative = Key((parsed.tonic + (3 if minor else 9)) % 12, "major" if minor else "natural_minor")
    fifths = [Key((parsed.tonic + step) % 12, parsed.mode) for step in (7, 5)]
    allowed = {Key.parse(k): k for k in DRIFT_KEYS}
    return [allowed[k] for k in (relative, *fifths) if k in allowed]


def next_piece(
    state: RadioState, previous: PieceSpec | None, rng: random.Random, minutes: tuple[float, float] = TRACK_MINUTES
) -> PieceSpec:
    """The next track by the drift rule (module docstring) from ``previous`` within ``state``; ``minutes``
    is the range of a track's length."""
    moods = FEEL_MOODS[state.feel] if state.feel else MOODS
    if state.mood is not None:
        mood = state.mood
    elif previous is None or previous.mood not in moods:
        mood = rng.choice(sorted(moods))
    elif rng.random() < 0.6:
        mood = previous.mood
    else:
        at = MOOD_WHEEL.index(previous.mood)
        steps = [MOOD_WHEEL[(at + d) % len(MOOD_WHEEL)] for d in (-1, 1, -2, 2, -3, 3, 4)]
        near = [m for m in steps if m in moods][:2]
        mood = rng.choice(near) if near else previous.mood

    keys = [k for k in DRIFT_KEYS if state.feel != "tense" or "minor" in k]
    if state.key is not None:
        key = state.key
    elif previous is None or previous.key not in keys:
        key = rng.choice(keys)
    elif rng.random() < 0.4:
        key = previous.key
    else:
        near = [k for k in _neighbour_keys(previous.key) if k in keys]
        key = rng.choice(near) if near else previous.key

    low, high = state.tempo
    middle = (low + high) // 2
    if state.feel == "calm":
        high = middle
    elif state.feel == "tense":
        low = middle
    start = previous.bpm if previous is not None else rng.randint(low, high)
    bpm = min(high, max(low, start + rng.randint(-4, 4)))
    return PieceSpec(mood, key, bpm, round(rng.uniform(*minutes), 2), rng.randrange(2**32))
