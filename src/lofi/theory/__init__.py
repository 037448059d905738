"""Music theory for lofi: pitches, scales, keys, chords, progressions, reharmonization and detection."""

from lofi.theory.chords import QUALITIES, VOICING_STYLES, Chord, motion, voice_lead, voicing
from lofi.theory.detect import DETECT_QUALITIES, KEY_PROFILES, KeyEstimate, detect_chords, detect_key
from lofi.theory.harmonize import MelodyNote, is_tension_or_tone, reharmonize
from lofi.theory.keys import Key, parse_key
from lofi.theory.pitch import FLAT_NAMES, SHARP_NAMES, pitch_class, pitch_name
from lofi.theory.progressions import BANK, Progression, progression, realize_numeral
from lofi.theory.scales import SCALES, scale_pitch_classes

__all__ = [
    "BANK",
    "DETECT_QUALITIES",
    "FLAT_NAMES",
    "KEY_PROFILES",
    "QUALITIES",
    "SCALES",
    "SHARP_NAMES",
    "VOICING_STYLES",
    "Chord",
    "Key",
    "KeyEstimate",
    "MelodyNote",
    "Progression",
    "detect_chords",
    "detect_key",
    "is_tension_or_tone",
    "motion",
    "parse_key",
    "pitch_class",
    "pitch_name",
    "progression",
    "realize_numeral",
    "reharmonize",
    "scale_pitch_classes",
    "voice_lead",
    "voicing",
]
