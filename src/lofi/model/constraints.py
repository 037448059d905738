"""Constraints on what may come next: the REMI grammar, the key and the tempo.

Each constraint gives the set of allowed ids after a given token; decoding masks the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from lofi.theory import Key
from lofi.tokens.tokenizer import LofiTokenizer

DRUM_PROGRAM = "-1"
MAX_NOTES_AT_ONCE = 6  # one part strikes at most this many notes at one position: a voicing, not a cluster

# REMI with programs: Bar, Position, [Tempo], then notes as Program Pitch Velocity Duration.
# A bar is never empty: a silent bar in the middle of a lo-fi section is a failure, not a rest.
FOLLOWS: dict[str, tuple[str, ...]] = {
    "Bar": ("Position",),
    "Position": ("Tempo", "Program"),
    "Tempo": ("Program",),
    "Pitch": ("Velocity",),
    "PitchDrum": ("Velocity",),
    "Velocity": ("Duration",),
    "Duration": ("Program", "Position", "Bar"),
}


class Grammar:
    """Allowed-next masks for every token, with the key and tempo folded in."""

    def __init__(
        self,
        tokenizer: LofiTokenizer,
        key: Key | None = None,
        bpm: float | None = None,
        programs: Iterable[int] | None = None,
        drums: Iterable[int] | None = None,
    ):
        """``key``: pitches outside its scale are masked; ``bpm``: the one tempo token allowed; ``programs``:
        the parts that may play; ``drums``: the drum notes the kit may play (lofi.theory.groove.KIT)."""
        self.tok = tokenizer
        vocab_size = tokenizer.vocab_size
        names = tokenizer.id_to_token
        types = [n.split("_", 1)[0] for n in names]
        by_type: dict[str, list[int]] = {}
        for i, t in enumerate(types):
            by_type.setdefault(t, []).append(i)

        allowed_pitch = list(by_type.get("Pitch", []))
        if key is not None:
            scale = key.usable_pitch_classes
            allowed_pitch = [i for i in allowed_pitch if int(names[i].split("_")[1]) % 12 in scale]
        tempo_ids = by_type.get("Tempo", [])
        if bpm is not None:
            tempo_ids = [tokenizer.tempo_id(bpm)]
        program_ids = by_type.get("Program", [])
        if programs is not None:
            wanted = {str(p) for p in programs}
            program_ids = [i for i in program_ids if names[i].split("_", 1)[1] in wanted]
        drum_ids = by_type.get("PitchDrum", [])
        if drums is not None:
            kit = set(drums)
            drum_ids = [i for i in drum_ids if int(names[i].split("_")[1]) in kit]
        members = {**by_type, "Pitch": allowed_pitch, "Tempo": tempo_ids, "Program": program_ids}

        self.masks = torch.zeros(vocab_size, vocab_size, dtype=torch.bool)  # [previous, next] -> allowed
        for i, t in enumerate(types):
            if t == "Program":
                nxt = drum_ids if names[i].endswith("_" + DRUM_PROGRAM) else allowed_pitch
                self.masks[i, nxt] = True
            else:
                for follower in FOLLOWS.get(t, ()):
                    self.masks[i, members.get(follower, [])] = True
        # after the condition prefix (its last token is a Tempo) the body opens with a bar
        self.start_mask = torch.zeros(vocab_size, dtype=torch.bool)
        self.start_mask[tokenizer.bar_id] = True

    def allowed_after(self, previous: int, at_start: bool = False) -> torch.Tensor:
        return self.start_mask if at_start else self.masks[previous]

    def apply(self, logits: torch.Tensor, previous: int, at_start: bool = False) -> torch.Tensor:
        mask = self.allowed_after(previous, at_start)
        if not bool(mask.any()):  # a token the grammar does not know (e.g. a prompt's): let the model lead
            return logits
        return logits.masked_fill(~mask, float("-inf"))


def decode_table(grammar: Grammar) -> np.ndarray:
    """Allowed-next masks [vocab + 1, vocab]: row ``previous`` as Grammar.apply sees it, row vocab at the start."""
    table = getattr(grammar, "_decode_table", None)
    if table is None:
        masks = grammar.masks.clone()
        masks[~masks.any(dim=1)] = True  # a token the grammar does not know: let the model lead
        table = torch.cat([masks, grammar.start_mask[None]]).numpy()
        grammar._decode_table = table  # cached on the grammar: built once per composition
    return table
