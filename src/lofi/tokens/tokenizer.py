"""MidiTok REMI with programs and tempos, led by lofi's condition tokens.

Every sequence starts ``BOS Mood_<mood> Key_<tonic>_<quality> Tempo_<bpm>``; the body is REMI.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from miditok import REMI, TokenizerConfig
from symusic import Score

from lofi.instruments import PALETTE
from lofi.limits import TEMPO_RANGE
from lofi.moods import MOODS
from lofi.theory import Key

FORMAT = 1
KEY_TOKENS: tuple[str, ...] = tuple(
    Key(tonic, mode).token for mode in ("major", "natural_minor") for tonic in range(12)
)


def _remi_config() -> TokenizerConfig:
    return TokenizerConfig(
        pitch_range=(21, 109),
        beat_res={(0, 4): 8, (4, 12): 4},
        num_velocities=8,
        use_programs=True,
        one_token_stream_for_programs=True,
        programs=sorted(PALETTE),
        use_tempos=True,
        tempo_range=TEMPO_RANGE,
        num_tempos=TEMPO_RANGE[1] - TEMPO_RANGE[0] + 1,
        log_tempos=False,
        use_time_signatures=False,
        use_pitchdrum_tokens=True,
        special_tokens=["PAD", "BOS", "EOS"],
        remove_duplicated_notes=True,  # a part never strikes one pitch twice at one time (stacked notes)
    )


def _config_from_json(data: dict) -> TokenizerConfig:
    """Invert ``TokenizerConfig.to_dict(serialize=True)`` exactly.

    MidiTok keeps programs in a set and writes it in the set's order; building the set again from
    that order can iterate differently and so number the Program tokens differently. Sorting first
    rebuilds it the way ``create`` built it.
    """
    config = copy.deepcopy(data)
    for name in ("beat_res", "beat_res_rest"):
        config[name] = {tuple(map(int, span.split("_"))): res for span, res in config[name].items()}
    # JSON object keys are strings; MidiTok wants the denominators as ints
    config["time_signature_range"] = {int(d): n for d, n in config["time_signature_range"].items()}
    config["programs"] = sorted(config["programs"])
    config["chord_maps"] = {quality: tuple(notes) for quality, notes in config["chord_maps"].items()}
    return TokenizerConfig.from_dict(config)


@dataclass
class LofiTokenizer:
    remi: REMI
    condition_tokens: tuple[str, ...]

    @classmethod
    def create(cls) -> LofiTokenizer:
        conditions = tuple(f"Mood_{m}" for m in MOODS) + tuple(f"Key_{k}" for k in KEY_TOKENS)
        return cls._build(REMI(_remi_config()), conditions)

    @classmethod
    def _build(cls, remi: REMI, conditions: tuple[str, ...]) -> LofiTokenizer:
        # added in a fixed order after MidiTok's own vocabulary, so ids are the same on every load
        for token in conditions:
            remi.add_to_vocab(token)
        return cls(remi, conditions)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "remi_config": self.remi.config.to_dict(serialize=True),
            "condition_tokens": list(self.condition_tokens),
            "vocab": self.vocab,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LofiTokenizer:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported tokenizer format {data.get('format')!r} (expected {FORMAT})")
        tok = cls._build(REMI(_config_from_json(data["remi_config"])), tuple(data["condition_tokens"]))
        if tok.vocab != data["vocab"]:
            raise ValueError(
                "the tokenizer rebuilt from this checkpoint has a different vocabulary: "
                "the installed miditok differs from the one the model was trained with"
            )
        return tok

    # vocabulary -----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.remi.vocab)

    @property
    def vocab(self) -> dict[str, int]:
        return self.remi.vocab

    @cached_property
    def id_to_token(self) -> list[str]:
        names = [""] * self.vocab_size
        for name, i in self.vocab.items():
            names[i] = name
        return names

    def ids_of_type(self, prefix: str) -> dict[int, str]:
        """Token ids whose name starts ``<prefix>_``, mapped to the value after the underscore."""
        head = prefix + "_"
        return {i: name[len(head) :] for name, i in self.vocab.items() if name.startswith(head)}

    @property
    def pad_id(self) -> int:
        return self.vocab["PAD_None"]

    @property
    def bos_id(self) -> int:
        return self.vocab["BOS_None"]

    @property
    def eos_id(self) -> int:
        return self.vocab["EOS_None"]

    @property
    def bar_id(self) -> int:
        return self.vocab["Bar_None"]

    def tempo_id(self, bpm: float) -> int:
        """The tempo token nearest to ``bpm`` (clamped to the tokenizer's range)."""
        tempos = self.ids_of_type("Tempo")
        return min(tempos, key=lambda i: abs(float(tempos[i]) - bpm))

    # sequences ------------------------------------------------------------------------------------
    def condition_ids(self, mood: str, key: Key, bpm: float) -> list[int]:
        return [self.bos_id, self.vocab[f"Mood_{mood}"], self.vocab[f"Key_{key.token}"], self.tempo_id(bpm)]

    def encode_body(self, score: Score) -> list[int]:
        """REMI ids of a score (programs folded to the palette beforehand)."""
        return list(self.remi.encode(score).ids)

    def encode(self, score: Score, mood: str, key: Key, bpm: float) -> list[int]:
        return self.condition_ids(mood, key, bpm) + self.encode_body(score)

    def decode(self, ids: list[int] | np.ndarray) -> Score:
        """A Score from ids; condition and special tokens are dropped first."""
        skip = {self.vocab[t] for t in self.condition_tokens} | {self.pad_id, self.bos_id, self.eos_id}
        body = [int(i) for i in ids if int(i) not in skip]
        # miditok changes a list passed to decode in place: hand it a copy
        return self.remi.decode(list(body))
