"""Title, description and tags for a track, made from its metadata, and checked against YouTube's limits.

YouTube's limits, as the Data API documents them for ``videos.snippet``, and how we count them:

- **title**: at most 100 characters, no ``<`` or ``>``. We count UTF-16 code units (a character outside
  the Basic Multilingual Plane, such as an emoji, counts twice), which is never fewer than YouTube's count.
- **description**: at most 5000 bytes of UTF-8, no ``<`` or ``>``.
- **tags**: at most 500 characters in total, counted as YouTube does: the commas between tags count, and
  a tag containing a space counts as if wrapped in quotation marks (``Foo-Baz`` is 7, ``Foo Baz`` is 9).
  Characters are again counted as UTF-16 units. We also refuse commas inside a tag (it would split).

Every generated text is cut to fit before it is returned, and ``validate`` checks any title, description
and tags (generated or typed by a person) and raises ValueError naming each limit that is broken.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

TITLE_MAX = 100  # characters (UTF-16 units)
DESCRIPTION_MAX = 5000  # bytes of UTF-8
TAGS_MAX = 500  # characters, commas and quotes included
TAG_MAX = 30  # our own rule: longer tags are rarely searched for
FORBIDDEN = "<>"

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "chill": ("Slow", "Easy", "Mellow", "Soft", "Lazy", "Quiet"),
    "jazzy": ("Smoky", "Velvet", "Late", "Blue", "Golden", "Backroom"),
    "sad": ("Faded", "Grey", "Lonely", "Distant", "Empty", "Cold"),
    "dreamy": ("Hazy", "Floating", "Pastel", "Cloudy", "Drifting", "Violet"),
    "upbeat": ("Sunny", "Bright", "Bouncy", "Morning", "Warm", "Lucky"),
    "rainy": ("Rainy", "Wet", "Misty", "Drizzly", "Stormy", "Grey"),
    "sleepy": ("Sleepy", "Midnight", "Drowsy", "Late-Night", "Moonlit", "Dim"),
    "nostalgic": ("Old", "Polaroid", "Vintage", "Faded", "Childhood", "Cassette"),
}
NOUNS = (
    "Window", "Streets", "Coffee", "Notebook", "Tram", "Rooftop", "Letters", "Lanterns", "Bookshop",
    "Balcony", "Train Ride", "Tea", "Vinyl", "Pages", "Sunday", "Skyline", "Harbor", "Garden", "Radio", "Study",
)  # fmt: skip
TITLES = (
    "{name} · {mood} lofi beats to study & relax ({key}, {bpm} BPM)",
    "{name} – {mood} lo-fi hip hop [{key} · {bpm} BPM]",
    "{Mood} lofi: {name} ({bpm} BPM, {key})",
    "{name} | {mood} lofi beats for focus & sleep · {key}",
)
SHORT_TITLES = ("{name} · {mood} lofi", "{name}")  # when a long mood or key leaves no room
INTROS = (
    "A {mood} lo-fi track for studying, reading or winding down.",
    "{Mood} beats for late nights, slow mornings and everything in between.",
    "Put it on and breathe out: {mood} lo-fi hip hop in {key}.",
    "Soft drums, warm keys and a little tape hiss: {mood} lofi at {bpm} BPM.",
)
OUTROS = (
    "Headphones recommended. Save it to a playlist for your next focus session.",
    "Leave it on in the background while you work, read or rest.",
    "If it helped you focus or sleep, it did its job.",
)
MOOD_TAGS: dict[str, tuple[str, ...]] = {
    "chill": ("chillhop", "chill music"),
    "jazzy": ("jazz hop", "lofi jazz"),
    "sad": ("sad lofi", "sad music"),
    "dreamy": ("dreamy music", "ambient"),
    "upbeat": ("happy lofi", "upbeat music"),
    "rainy": ("rainy day music", "rain lofi"),
    "sleepy": ("sleep music", "music for sleep"),
    "nostalgic": ("nostalgic music", "vintage lofi"),
}
BASE_TAGS = (
    "lofi", "lo-fi", "lofi hip hop", "chill beats", "study music", "beats to study to", "relaxing music",
    "instrumental", "focus music", "lofi beats",
)  # fmt: skip


class Seo(NamedTuple):
    title: str
    description: str
    tags: list[str]


# ---- counting as YouTube does ---------------------------------------------------------------------------


def characters(text: str) -> int:
    """Length in UTF-16 code units: an emoji counts 2, as some of YouTube's counters do."""
    return len(text.encode("utf-16-le")) // 2


def description_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def tags_length(tags: Sequence[str]) -> int:
    """YouTube's count: each tag, plus 2 quotation marks for a tag with whitespace, plus the commas between."""
    return sum(characters(t) + (2 if re.search(r"\s", t) else 0) for t in tags) + max(0, len(tags) - 1)


def validate(title: str, description: str, tags: Sequence[str]) -> None:
    """Raise ValueError naming every YouTube limit that ``title``, ``description`` and ``tags`` break."""
    problems = []
    if not title.strip():
        problems.append("title is empty")
    if characters(title) > TITLE_MAX:
        problems.append(f"title is {characters(title)} characters, over YouTube's {TITLE_MAX}")
    if any(c in title for c in FORBIDDEN):
        problems.append("title contains < or >, which YouTube refuses")
    if "\n" in title or "\r" in title:
        problems.append("title has a line break")
    if description_bytes(description) > DESCRIPTION_MAX:
        problems.append(
            f"description is {description_bytes(description)} bytes of UTF-8, over YouTube's {DESCRIPTION_MAX}"
        )
    if any(c in description for c in FORBIDDEN):
        problems.append("description contains < or >, which YouTube refuses")
    if any(not t.strip() for t in tags):
        problems.append("tags include an empty tag")
    if any(c in t for t in tags for c in FORBIDDEN):
        problems.append("tags contain < or >, which YouTube refuses")
    if any("," in t for t in tags):
        problems.append("a tag contains a comma (YouTube would split it)")
    if tags_length(tags) > TAGS_MAX:
        problems.append(
            f"tags take {tags_length(tags)} characters as YouTube counts them "
            f"(commas between, quotes around tags with spaces), over its {TAGS_MAX}"
        )
    if problems:
        raise ValueError("; ".join(problems))


# ---- cleaning and cutting -------------------------------------------------------------------------------


def clean(text: object, limit: int | None = None, keep_newlines: bool = False) -> str:
    """``text`` without < >, control characters or runs of whitespace; cut to ``limit`` characters with …"""
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") and not (keep_newlines and c == "\n") else c
        for c in str(text)
        if c not in FORBIDDEN and unicodedata.category(c) not in ("Cf", "Co", "Cn", "Cs")
    )
    if keep_newlines:
        text = "\n".join(re.sub(r"\s+", " ", line).strip() for line in text.split("\n"))
    else:
        text = re.sub(r"\s+", " ", text).strip()
    if limit is not None and characters(text) > limit:
        text = _cut(text, limit)
    return text


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters (UTF-16 units), ending with … and, where possible, at a word boundary."""
    out = ""
    for c in text:
        if characters(out + c) > limit - 1:
            break
        out += c
    head, space, _ = out.rpartition(" ")
    if space and characters(head) >= limit // 2:
        out = head
    return out.rstrip(" ,.;:–-|·") + "…" if limit >= 1 else ""


def _clip_bytes(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, never splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    ellipsis = "…".encode()
    return raw[: limit - len(ellipsis)].decode("utf-8", errors="ignore").rstrip() + "…"


def _tag(text: object) -> str:
    tag = clean(str(text).replace(",", " ").replace('"', " ").lower())
    if characters(tag) > TAG_MAX:
        tag = tag[:TAG_MAX].rsplit(" ", 1)[0] if " " in tag[:TAG_MAX] else tag[:TAG_MAX]
        while characters(tag) > TAG_MAX:  # astral characters count twice
            tag = tag[:-1]
    return tag.strip()


def fit_tags(candidates: Iterable[object], limit: int = TAGS_MAX) -> list[str]:
    """Clean tags in order of importance, dropping duplicates, while YouTube's count stays within ``limit``."""
    tags: list[str] = []
    for candidate in candidates:
        tag = _tag(candidate)
        if tag and tag not in tags and tags_length([*tags, tag]) <= limit:
            tags.append(tag)
    return tags


# ---- from metadata --------------------------------------------------------------------------------------


def _seed(metadata: Mapping) -> int:
    try:
        return abs(int(metadata.get("seed", 0)))
    except (TypeError, ValueError):
        return 0


def _mood(metadata: Mapping) -> str:
    request = metadata.get("request")
    mood = request.get("mood") if isinstance(request, Mapping) else None
    return clean(mood or metadata.get("mood") or "chill", 24).lower() or "chill"


def _bpm(metadata: Mapping) -> str:
    bpm = metadata.get("bpm", "")
    if isinstance(bpm, float) and bpm.is_integer():
        bpm = int(bpm)
    return clean(bpm, 8)


def _chords(metadata: Mapping, count: int = 8) -> list[str]:
    """The first ``count`` chord changes: repeats of the same chord and bars without one are skipped."""
    out: list[str] = []
    for chord in metadata.get("chords") or []:
        symbol = clean(chord, 16) if chord else ""
        if symbol and (not out or out[-1] != symbol):
            out.append(symbol)
        if len(out) == count:
            break
    return out


def _instruments(metadata: Mapping, count: int = 12) -> list[str]:
    """What the track sounds like: the rendered presets when there are some, else the MIDI parts."""
    audio = metadata.get("audio")
    rendered = audio.get("instruments") if isinstance(audio, Mapping) else None
    names = list(rendered.values()) if isinstance(rendered, Mapping) else list(metadata.get("instruments") or [])
    out: list[str] = []
    for name in names:
        name = clean(name, 40)
        if name and name not in out:
            out.append(name)
    return out[:count]


def _pick(options: Sequence[str], seed: int, salt: int) -> str:
    return options[int(np.random.default_rng([seed, salt]).integers(len(options)))]


def track_name(metadata: Mapping, taken: Collection[str] = ()) -> str:
    """A short name for the track (the words on the cover), from its mood and seed: "Misty Rooftop".

    ``taken`` are the names of the other tracks in the library: when the seed's name is one of them, the
    next free one in an order the seed shuffles is chosen, so no two tracks share a name until the mood's
    names (6 adjectives by 20 nouns) run out; then the seed's name is used again.
    """
    seed, mood = _seed(metadata), _mood(metadata)
    adjectives = ADJECTIVES.get(mood, ADJECTIVES["chill"])
    first = f"{_pick(adjectives, seed, 1)} {_pick(NOUNS, seed, 2)}"
    if first not in taken:
        return first
    names = [f"{adjective} {noun}" for adjective in adjectives for noun in NOUNS]
    order = np.random.default_rng([seed, 8]).permutation(len(names))
    return next((names[i] for i in order if names[i] not in taken), first)


def subtitle(metadata: Mapping) -> str:
    """The smaller line under the name on the art: "lofi · rainy · D minor · 72 BPM"."""
    parts = ["lofi", _mood(metadata), clean(metadata.get("key", ""), 24)]
    bpm = _bpm(metadata)
    return " · ".join(p for p in [*parts, f"{bpm} BPM" if bpm else ""] if p)


def _fields(metadata: Mapping, name: str | None = None) -> dict[str, str]:
    mood = _mood(metadata)
    return {
        "name": name or track_name(metadata),
        "mood": mood,
        "Mood": mood[:1].upper() + mood[1:],
        "key": clean(metadata.get("key", ""), 24) or "C major",
        "bpm": _bpm(metadata) or "75",
    }


def make_title(metadata: Mapping, name: str | None = None) -> str:
    fields, seed = _fields(metadata, name), _seed(metadata)
    first = _pick(TITLES, seed, 3)
    for template in (first, *TITLES, *SHORT_TITLES):
        title = clean(template.format(**fields))
        if characters(title) <= TITLE_MAX:
            return title
    return clean(fields["name"], TITLE_MAX)


def _duration(metadata: Mapping) -> str:
    try:
        seconds = round(float(metadata.get("duration_s", 0)))
    except (TypeError, ValueError):
        return ""
    return timestamp(seconds) if seconds > 0 else ""


def make_description(metadata: Mapping, name: str | None = None) -> str:
    fields, seed = _fields(metadata, name), _seed(metadata)
    facts = [f"Key: {fields['key']}", f"Tempo: {fields['bpm']} BPM"]
    if length := _duration(metadata):
        facts.append(f"Length: {length}")
    lines = [f"{fields['name']}. {_pick(INTROS, seed, 4).format(**fields)}", "", " · ".join(facts)]
    if chords := _chords(metadata):
        lines.append("Chords: " + " – ".join(chords))
    if instruments := _instruments(metadata):
        lines.append("Instruments: " + ", ".join(instruments))
    lines += ["", _pick(OUTROS, seed, 5), ""]
    lines.append(
        "Made with lofi, an open-source lo-fi studio: a small music model composed every note"
        f" (seed {seed}), FluidSynth played it, and the mix was mastered for streaming."
    )
    if isinstance(record := metadata.get("provenance"), Mapping):  # where the track came from, in words
        from lofi.analysis.provenance import describe

        lines += ["", describe(record)]
    hashtag = re.sub(r"\W", "", fields["mood"])
    lines += ["", " ".join(["#lofi", "#studymusic", *([f"#{hashtag}"] if hashtag else [])])]
    text = clean("\n".join(lines), keep_newlines=True)
    return _clip_bytes(text, DESCRIPTION_MAX)


def make_tags(metadata: Mapping, name: str | None = None) -> list[str]:
    fields = _fields(metadata, name)
    mood = fields["mood"]
    candidates = [
        *BASE_TAGS[:4],
        f"{mood} lofi", f"{mood} beats", *MOOD_TAGS.get(mood, ()),
        *BASE_TAGS[4:],
        fields["name"], fields["key"], f"{fields['key']} lofi", f"{fields['bpm']} bpm",
        *(f"lofi {name}" for name in _instruments(metadata, 4)),
        f"{mood} music",
    ]  # fmt: skip
    return fit_tags(candidates)


def seo_for(metadata: Mapping, taken: Collection[str] = ()) -> Seo:
    """Title, description and tags for a track's metadata.json contents; always within YouTube's limits.

    ``taken``: the names of the library's other tracks, which this one's avoids (see ``track_name``).
    """
    name = track_name(metadata, taken)
    seo = Seo(make_title(metadata, name), make_description(metadata, name), make_tags(metadata, name))
    validate(*seo)
    return seo


# ---- long mixes -----------------------------------------------------------------------------------------


def timestamp(seconds: float, hours: bool = False) -> str:
    """``m:ss`` (``h:mm:ss`` with ``hours`` or past an hour), the form YouTube turns into chapter links."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if hours or h else f"{m}:{s:02d}"


def tracklist(entries: Sequence[tuple[float, str]], title_limit: int = 80) -> str:
    """One "timestamp title" line per (start in seconds, title), starting at 0:00 and in order.

    YouTube makes chapters of such a list when it starts at 0:00 and has at least three entries at least
    ten seconds apart; this keeps the first two rules by refusing lists that break them.
    """
    if not entries:
        return ""
    starts = [float(start) for start, _ in entries]
    if starts[0] != 0:
        raise ValueError("a tracklist must start at 0:00")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        raise ValueError("tracklist times must increase")
    hours = starts[-1] >= 3600
    return "\n".join(f"{timestamp(start, hours)} {clean(title, title_limit)}" for start, title in entries)


def _more(count: int) -> str:
    return f"…and {count} more track{'s' if count != 1 else ''}"


def mix_description(intro: str, entries: Sequence[tuple[float, str]], outro: str = "") -> str:
    """A long mix's description: ``intro``, the tracklist, ``outro``, within YouTube's 5000 bytes.

    Titles are shortened first (to 80, 60, 40, 30, then 20 characters); when even that is too long the
    list keeps as many tracks from the start as fit and ends with "…and N more tracks".
    """
    intro, outro = clean(intro, keep_newlines=True), clean(outro, keep_newlines=True)

    def text(shown: int, limit: int) -> str:
        listed = tracklist(entries[:shown], limit)
        if shown < len(entries):
            listed += "\n" + _more(len(entries) - shown)
        return "\n\n".join(part for part in (intro, listed, outro) if part)

    for limit in (80, 60, 40, 30, 20):
        if description_bytes(full := text(len(entries), limit)) <= DESCRIPTION_MAX:
            return full
    low, high = 0, len(entries)  # the most tracks that fit, by bisection: fewer tracks, shorter text
    while low < high:
        middle = (low + high + 1) // 2
        if description_bytes(text(middle, 30)) <= DESCRIPTION_MAX:
            low = middle
        else:
            high = middle - 1
    return _clip_bytes(text(low, 30), DESCRIPTION_MAX)  # clipped only if the intro alone is too long


def span(seconds: float) -> str:
    """A mix's length in words: "45 minutes", "1 hour", "1.5 hours"."""
    minutes = seconds / 60
    if minutes < 55:
        return f"{max(1, round(minutes))} minute{'s' if round(minutes) > 1 else ''}"
    hours = round(minutes / 30) / 2
    text = f"{hours:g}"
    return f"{text} hour{'s' if hours != 1 else ''}"


def _mood_words(moods: Sequence[str]) -> str:
    names = [clean(m, 24).lower() for m in moods if clean(m, 24)] or ["chill"]
    return " & ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " & " + names[-1]


def mix_name(moods: Sequence[str], seed: int) -> str:
    """The words on a mix's cover: "Rainy Rooftop Sessions"."""
    mood = (list(moods) or ["chill"])[0]
    adjectives = ADJECTIVES.get(mood, ADJECTIVES["chill"])
    return f"{_pick(adjectives, abs(seed), 6)} {_pick(NOUNS, abs(seed), 7)} Sessions"


def mix_subtitle(duration_s: float, tracks: int) -> str:
    return f"lofi mix · {span(duration_s)} · {tracks} track{'s' if tracks != 1 else ''}"


def mix_seo(moods: Sequence[str], duration_s: float, entries: Sequence[tuple[float, str]], seed: int = 0) -> Seo:
    """Title, description with the tracklist, and tags of a long mix; always within YouTube's limits."""
    length, mood = span(duration_s), _mood_words(moods)
    name = mix_name(moods, seed)
    title = clean(f"{length} of {mood} lofi beats to study & relax · {name}")
    if characters(title) > TITLE_MAX:
        title = clean(f"{length} {mood} lofi mix", TITLE_MAX)
    intro = (
        f"{name}: {length} of {mood} lo-fi hip hop, {len(entries)} tracks flowing into each other, "
        "for studying, reading, working or sleeping.\n\nTracklist"
    )
    outro = (
        "Every track was composed by lofi, an open-source lo-fi studio: a small music model wrote the notes, "
        "FluidSynth played them, and the mix was mastered for streaming.\n\n#lofi #studymusic #lofimix"
    )
    description = mix_description(intro, entries, outro)
    first = (list(moods) or ["chill"])[0]
    candidates = [
        "lofi mix", f"{length} lofi", *BASE_TAGS[:6],
        *(f"{m} lofi" for m in moods), *(t for m in moods for t in MOOD_TAGS.get(m, ())),
        *BASE_TAGS[6:], f"{first} lofi mix", "lofi playlist", "long lofi mix", name,
    ]  # fmt: skip
    words = Seo(title, description, fit_tags(candidates))
    validate(*words)
    return words
