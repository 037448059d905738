"""What a request may ask for: the tempos the tokenizer can write, the lengths and swings the composer makes,
the audio files a track can have.

On the ground floor so that the API validates requests without loading the tokenizer, the model or torch.
"""

TEMPO_RANGE = (50, 130)  # BPM; the tokenizer has one token per BPM, so a requested tempo is always representable
MINUTES_RANGE = (0.25, 10.0)
SWING_RANGE = (0.5, 0.67)  # where the off-beat 16ths land in their eighth: straight to triplet
# the audio files a track may have: track.wav (24-bit), track.mp3, stems/<part>.flac
AUDIO_FORMATS = ("wav", "mp3", "stems")
