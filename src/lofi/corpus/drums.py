"""The boom-bap pattern bank: lofi's own drum patterns, written as data.

Each lane is a General MIDI drum note and a string of sixteenth-note steps, 16 to a bar, bars split by
"|". A step is "." (rest) or a hit whose letter is its force: "g" ghost, "o" soft, "x" normal, "X" accent.
Every pattern keeps the backbeat (a snare, rim or clap on beats 2 and 4, steps 4 and 12) and carries its
own swing: where the off-beat sixteenths land inside their eighth (0.54-0.62, MPC style), written into
the MIDI so the groove travels with the file into a DAW. Fills are one bar, played as the last bar of a
phrase; they keep the backbeat too (the roll or the toms go around beats 2 and 4, not over them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KICK, SNARE, RIM, CLAP, HAT, PEDAL, OPEN, RIDE, CRASH = 36, 38, 37, 39, 42, 44, 46, 51, 49
LOW_TOM, MID_TOM, HIGH_TOM, FLOOR_TOM = 45, 47, 50, 41
STEPS = 16  # sixteenths in a bar
VELOCITY = {"g": 34, "o": 60, "x": 88, "X": 112}
LANE_LETTERS = {
    "K": KICK, "S": SNARE, "R": RIM, "C": CLAP, "H": HAT, "P": PEDAL, "O": OPEN, "Y": RIDE,
    "L": LOW_TOM, "M": MID_TOM, "T": HIGH_TOM, "F": FLOOR_TOM,
}  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    name: str
    lanes: tuple[tuple[int, str], ...]  # (drum note, steps)
    swing: float  # 0.5 straight; the off-beat sixteenths land at this fraction of their eighth
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lengths = {len(steps.replace("|", "")) for _, steps in self.lanes}
        if len(lengths) != 1 or lengths.pop() % STEPS:
            raise ValueError(f"pattern {self.name!r}: every lane needs the same whole number of 16-step bars")
        if not 0.5 <= self.swing <= 0.67:
            raise ValueError(f"pattern {self.name!r}: swing {self.swing} outside 0.5-0.67")
        for _, steps in self.lanes:
            if set(steps) - set(".|") - set(VELOCITY):
                raise ValueError(f"pattern {self.name!r}: unknown step letters in {steps!r}")

    @property
    def bars(self) -> int:
        return len(self.lanes[0][1].replace("|", "")) // STEPS

    def hits(self, bar: int) -> list[tuple[int, int, int]]:
        """(step, drum note, velocity) of one bar of the pattern (bars wrap around)."""
        bar %= self.bars
        out = []
        for note, steps in self.lanes:
            row = steps.replace("|", "")[bar * STEPS : (bar + 1) * STEPS]
            out += [(step, note, VELOCITY[c]) for step, c in enumerate(row) if c != "."]
        return sorted(out)


def _pattern(name: str, swing: float, *tags: str, **lanes: str) -> Pattern:
    return Pattern(name, tuple((LANE_LETTERS[k], v) for k, v in lanes.items()), swing, tags)


# hats
H8 = "x.o.x.o.x.o.x.o."
H8A = "X.o.x.o.X.o.x.o."
H16 = "xgogxgogxgogxgog"
H16S = "x.oxx.oxx.oxx.ox"
HQ = "x...x...x...x..."
HOPEN = "x.o.x.o.x.o.x..."  # with an open hat on the last "and"
BACK = "....X.......X..."  # the backbeat alone

# fmt: off
PATTERNS: tuple[Pattern, ...] = (
    # classic boom bap: kick on 1 and around 3, snare on 2 and 4, eighth hats
    _pattern("boom bap", 0.56, "boom bap", K="X.........x.....", S=BACK, H=H8),
    _pattern("boom bap push", 0.57, "boom bap", K="X......x..x.....", S=BACK, H=H8A),
    _pattern("boom bap double", 0.56, "boom bap", K="X.x.......x.....", S=BACK, H=H8),
    _pattern("boom bap late", 0.58, "boom bap", K="X.........X..x..", S="....X......gX...", H=H8),
    _pattern("boom bap skip", 0.60, "boom bap", K="X......x.x......", S=BACK, H=H16S),
    _pattern("boom bap three", 0.55, "boom bap", K="X..x......x.....", S="....X..g....X...", H=H8),
    _pattern("straight three", 0.54, "boom bap", "sparse", K="X.......X.......", S=BACK, H=H8),
    _pattern("bounce", 0.58, "boom bap", K="X.....x...x..x..", S="....X.......X..g", H=H8A),
    _pattern("knock", 0.57, "boom bap", K="X.x.....x.x.....", S=BACK, H=H8),
    _pattern("drag", 0.59, "boom bap", K="X........xx.....", S="....X..g....X...", H=H16),
    _pattern("lean back", 0.60, "boom bap", K="X......x......x.", S="..g.X.......X...", H=H8),
    _pattern("stutter", 0.58, "boom bap", "busy", K="X.x...x...x.....", S="....X.g.....X.g.", H=H16),
    # two-bar boom bap: the second bar answers the first
    _pattern("answer", 0.57, "boom bap", K="X.........x.....|X......x..x..x..", S=BACK + "|" + BACK,
             H=H8 + "|" + HOPEN, O="................|..............x."),
    _pattern("call and response", 0.56, "boom bap", K="X.x.......x.....|X.........X.x...", S=BACK + "|....X......gX...",
             H=H8A + "|" + H8A),
    _pattern("rolling", 0.60, "boom bap", "busy", K="X......x.x......|X..x......x..x..",
             S="....X..g....X...|....X.g.....X..g", H=H16 + "|" + H16),
    _pattern("head nod", 0.58, "boom bap", K="X.........x.....|X.....x...x.....", S=BACK + "|" + BACK,
             H=H8 + "|" + HOPEN, O="................|..............x."),
    _pattern("dusty two", 0.62, "boom bap", K="X.........x..x..|X.x.......x.....",
             S="....X......gX...|....X.......X..g", H=H16S + "|" + H16S),
    _pattern("loose", 0.61, "boom bap", K="X......x..x.....|X......x......x.", S="..g.X.......X...|....X..g....X...",
             H=H8 + "|" + H8),
    # rim clicks: the softer lo-fi backbeat
    _pattern("rim walk", 0.56, "rim", "sparse", K="X.........x.....", R=BACK, H=H8),
    _pattern("rim push", 0.57, "rim", K="X......x..x.....", R="....x.......x...", H=H8A),
    _pattern("rim bounce", 0.59, "rim", K="X.....x...x..x..", R="....x.......x..g", H=H16),
    _pattern("rim late", 0.58, "rim", K="X.........X..x..", R="....x......gx...", H=H8),
    _pattern("rim and ride", 0.55, "rim", "ride", K="X.........x.....", R=BACK, Y="x.o.x.o.x.o.x.o."),
    _pattern("rim two", 0.57, "rim", K="X.........x.....|X......x..x.....", R=BACK + "|" + BACK, H=H8 + "|" + HOPEN,
             O="................|..............x."),
    # clap layered on the snare, or alone
    _pattern("clap", 0.56, "clap", K="X.........x.....", C=BACK, H=H8),
    _pattern("clap stack", 0.57, "clap", "busy", K="X......x..x.....", S=BACK, C="....x.......x...", H=H16),
    _pattern("clap skip", 0.60, "clap", K="X..x......x..x..", C=BACK, H=H16S),
    _pattern("clap two", 0.58, "clap", K="X.x.......x.....|X.........X.x...", S=BACK + "|" + BACK,
             C="....x.......x...|....x.......x...", H=H8 + "|" + H8A),
    # sparse and sleepy: quarter hats or pedal hats, few kicks
    _pattern("sleepy", 0.55, "sparse", K="X.........x.....", R=BACK, H=HQ),
    _pattern("sleepy pedal", 0.54, "sparse", K="X.......x.......", S=BACK, P=HQ),
    _pattern("slow nod", 0.56, "sparse", K="X.........X.....", S="....x.......x...", H="x...x.o.x...x.o."),
    _pattern("hush", 0.55, "sparse", "rim", K="X...........x...", R=BACK, P="x.x.x.x.x.x.x.x."),
    _pattern("soft two", 0.56, "sparse", K="X.........x.....|X.......x.......", R=BACK + "|" + BACK,
             H=HQ + "|" + "x...x...x...x.o."),
    # busier sixteenth grooves for faster, brighter moods
    _pattern("sixteen", 0.57, "busy", K="X......x..x.....", S=BACK, H=H16),
    _pattern("sixteen skip", 0.60, "busy", K="X.x.......x..x..", S="....X..g....X...", H=H16S),
    _pattern("shuffle sixteen", 0.62, "busy", K="X......x.x....x.", S="....X.g.....X...", H=H16),
    _pattern("sixteen two", 0.58, "busy", K="X......x..x.....|X.x.......x..x..", S=BACK + "|....X..g....X..g",
             H=H16 + "|" + H16),
    _pattern("open sixteen", 0.59, "busy", K="X.........x.....", S=BACK, H="xgogxgo.xgogxgo.", O="......x.......x."),
    # ride patterns for the jazzier moods
    _pattern("ride", 0.58, "ride", K="X.........x.....", S=BACK, Y="x..xx..xx..xx..x"),
    _pattern("ride push", 0.60, "ride", K="X......x..x.....", S="....X..g....X...", Y="x.oxx.oxx.oxx.ox"),
    _pattern("ride two", 0.59, "ride", K="X.........x.....|X......x..x.....", S=BACK + "|" + BACK,
             Y="x..xx..xx..xx..x|x..xx..xx..xx.o."),
    # open-hat lifts
    _pattern("open lift", 0.57, "boom bap", K="X.........x.....", S=BACK, H="x.o.x.o.x.o.x...", O="..............x."),
    _pattern("open push", 0.58, "boom bap", K="X......x..x.....", S=BACK, H="x.o.x...x.o.x.o.", O="......x........."),
    _pattern("open two", 0.56, "boom bap", K="X.x.......x.....|X.........x..x..", S=BACK + "|" + BACK,
             H="x.o.x.o.x.o.x...|x.o.x...x.o.x...", O="..............x.|......x.......x."),
)

FILLS: tuple[Pattern, ...] = (
    _pattern("snare roll", 0.57, "fill", K="X.........x.....", S="....X.......XgXX", H="x.o.x.o.x.o....."),
    _pattern("sixteenth roll", 0.56, "fill", K="X.........x.....", S="....X.......Xooo", H="x.o.x.o.x.o....."),
    _pattern("tom tumble", 0.57, "fill", K="X.........x.....", S=BACK, T=".............x..", M="..............x.",
             L="...............x", H="x.o.x.o.x.o....."),
    _pattern("tom walk", 0.58, "fill", K="X.......x.......", S=BACK, T="........x.......", M="..........x.....",
             L="..............x.", F="...............x", H="x.o.x.o........."),
    _pattern("drop", 0.56, "fill", K="X...............", S=BACK, H="x...x...x...x..."),
    _pattern("kick run", 0.58, "fill", K="X.........x.xx.x", S=BACK, H="x.o.x.o.x.o.x..."),
    _pattern("ghost run", 0.59, "fill", K="X.........x.....", S="....X..g..ggX.gg", H=H8),
    _pattern("open finish", 0.57, "fill", K="X......x..x...x.", S=BACK, H="x.o.x.o.x.o.x...", O="..............x."),
    _pattern("rim to snare", 0.56, "fill", K="X.........x.....", R="....x...........", S="............XoXX", H=H8),
    _pattern("flam four", 0.58, "fill", K="X.........x.....", S="....X......xX.x.", H="x.o.x.o.x.o.x.o."),
    _pattern("stop time", 0.55, "fill", K="X.......x.......", S=BACK, H="x...............", O="........x......."),
    _pattern("clap roll", 0.57, "fill", K="X.........x.....", S=BACK, C="............xoxx", H="x.o.x.o.x.o....."),
)
# fmt: on


def by_tags(*tags: str) -> list[Pattern]:
    """Patterns carrying any of ``tags`` (all patterns when none are given)."""
    return [p for p in PATTERNS if not tags or set(tags) & set(p.tags)]


def bar_hits(pattern: Pattern, bar: int, tpq: int, rng: random.Random, swing: float | None = None,
             laid_back_ticks: int = 0) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """(tick in the bar, drum note, velocity, duration) of one bar, swung and humanised.

    The off-beat sixteenths move to ``swing`` (the pattern's own when None) of their eighth; the backbeat
    lands ``laid_back_ticks`` late; velocities vary a little (a drummer never hits twice the same).
    """
    swing = pattern.swing if swing is None else swing
    sixteenth = tpq // 4
    out = []
    for step, note, velocity in pattern.hits(bar):
        tick = step * sixteenth + (round((swing - 0.5) * 2 * sixteenth) if step % 2 else 0)
        if note in (SNARE, RIM, CLAP) and step in (4, 12):
            tick += laid_back_ticks
        jitter = rng.randint(-5, 5) if velocity > VELOCITY["g"] else rng.randint(-3, 3)
        out.append((tick, note, max(1, min(127, velocity + jitter)), sixteenth))
    return out
