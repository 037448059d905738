"""Every path and knob of lofi, read once from the environment (prefix ``LOFI_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
# Debian's fluid-soundfont-gm; one place, so the settings and the stages' own defaults agree
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOFI_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path.home() / ".lofi", description="Where corpus, runs and tracks live.")
    # The committed default checkpoint ships inside the package so `lofi generate` works after install.
    default_model: Path = Field(default=PACKAGE_DIR / "model" / "default")
    mma_bin: str = Field(default="mma", description="The MMA executable that renders grooves.")
    openmsx_dir: Path = Field(default=Path("/usr/share/games/openttd/baseset/openmsx"))
    corpus_file_timeout_s: float = Field(default=20.0, description="Per-file limit of the quality filter.")
    soundfont: Path = Field(default=DEFAULT_SOUNDFONT, description="General MIDI SoundFont (fluid-soundfont-gm).")
    preset: str = Field(default="dusty", description="Effects preset used when none is asked for.")
    lufs: float = Field(default=-14.0, description="Integrated loudness target of the master, LUFS.")
    true_peak_db: float = Field(default=-1.0, description="True-peak ceiling of the master, dBTP.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL of the catalog (e.g. postgresql+psycopg://...); empty: SQLite in home."
    )
    queue_url: str = Field(
        default="", description="redis://... runs jobs on Celery workers; empty: in-process workers."
    )
    cache_url: str = Field(default="", description="redis://... shares the generation cache; empty: in-process LRU.")
    cache_size: int = Field(default=1024, description="Entries of the in-process generation cache.")
    workers: int = Field(default=1, description="Job worker processes (embedded) or Celery concurrency.")
    job_max_attempts: int = Field(default=3, description="Claims before a job whose worker keeps dying fails.")
    job_retries: int = Field(default=5, description="Celery retries of transient errors, backing off.")
    job_time_limit_s: float = Field(default=1800.0, description="Soft time limit of one job; hard limit 60 s later.")
    queue_visibility_timeout_s: float = Field(default=0.0, description="Redis redelivery; 0: hard limit + 10 min.")
    worker_heartbeat_s: float = Field(default=10.0, description="A Celery worker is dead after three missed beats.")
    daily_count: int = Field(default=3, description="Tracks `lofi daily` makes.")
    daily_moods: list[str] = Field(
        default_factory=lambda: ["chill", "rainy", "jazzy", "sleepy"],
        description="The moods `lofi daily` cycles through.",
    )
    audience_timezone: str = Field(default="America/New_York", description="Time zone of the upload schedule.")
    upload_hours: list[int] = Field(default_factory=lambda: [9, 15, 20], description="Local hours of upload slots.")
    daily_time: str = Field(
        default="", description="Local time (HH:MM) `lofi serve` makes the daily set; empty: it makes none (cron may)."
    )
    daily_minutes: float = Field(default=3.0, description="Length of each track of the daily set, in minutes.")
    daily_publish: bool = Field(
        default=False, description="`lofi serve` also uploads its daily set (videos, next free slots; needs the token)."
    )
    youtube_token_file: Path | None = Field(
        default=None, description="OAuth token file; None: home/youtube-token.json."
    )
    youtube_playlist_id: str = Field(default="", description="Playlist every upload joins; empty: none.")
    youtube_privacy: str = Field(default="private", description="private, unlisted or public.")
    youtube_community: bool = Field(default=False, description="Post the track info as a comment after uploading.")
    youtube_api_url: str = Field(default="", description="YouTube API base URL; empty: Google's (tests use a fake).")
    youtube_daily_quota: int = Field(
        default=10000, description="YouTube API units a day (Pacific time); uploads past it are refused."
    )
    api_host: str = Field(default="127.0.0.1", description="Address `lofi serve` listens on.")
    api_port: int = Field(default=8000, description="Port `lofi serve` listens on.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API from a browser.")
    api_key: str = Field(default="", description="When set, write endpoints need it in the X-API-Key header.")
    api_key_failures: str = Field(
        default="10/minute", description="Wrong X-API-Key attempts a client may make before it gets 429 for a while."
    )
    rate_limit: str = Field(
        default="30/minute", description="Jobs a client may submit (POST /api/v1/generate and /ws/generate)."
    )
    max_requests_in_flight: int = Field(
        default=4,  # on 2 cores, 16 route threads starved /health of the event loop (docs/BENCHMARKS.md)
        ge=0,
        description="HTTP requests the API works on at once (from arrival until the answer starts); past it "
        "503 with Retry-After, so the wait cannot grow without bound. /health, /ready and /metrics are "
        "never turned away. 0: no limit.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks) whose X-Forwarded-For and -Proto are believed; "
        "empty: none, the peer is the client.",
    )
    torch_threads: int = Field(default=0, description="torch threads for composing; 0: one (see lofi.model.runtime).")
    engine: str = Field(default="auto", description="Inference engine (lofi.model.engines); auto: the fastest here.")
    # operations (docs/OPERATIONS.md): logs, traces, shutdown
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (for people) or json (one object a line, for services and log stores)."
    )
    log_level: str = Field(default="INFO", description="Level of lofi's logs: DEBUG, INFO, WARNING, ERROR.")
    otlp_endpoint: str = Field(
        default="",
        validation_alias=AliasChoices("LOFI_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector (http://host:4318) the pipeline's traces go to; empty: no tracing.",
    )
    shutdown_grace_s: float = Field(
        default=30.0, description="On SIGTERM, how long running jobs may finish before they are requeued."
    )
    # the radio (lofi.radio): `lofi serve --radio` or LOFI_RADIO=true, and `lofi radio`
    radio: bool = Field(default=False, description="`lofi serve` runs the endless radio at /api/v1/radio.")
    radio_osc_port: int = Field(
        default=0, ge=0, le=65535, description="UDP port the radio takes its state on over OSC; 0: none."
    )
    radio_phrase_bars: int = Field(
        default=2, ge=1, le=4, description="A state change waits for the next boundary of this many bars."
    )
    radio_minutes: tuple[float, float] = Field(
        default=(2.0, 3.0), description="The range of a radio track's length in minutes (JSON: [2, 3])."
    )

    @property
    def corpus_dir(self) -> Path:
        return self.home / "corpus"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home.expanduser().resolve() / 'lofi.db').as_posix()}"

    @property
    def tracks_dir(self) -> Path:
        return self.home / "tracks"

    @property
    def mixes_dir(self) -> Path:
        return self.home / "mixes"

    @property
    def radio_dir(self) -> Path:
        return self.home / "radio"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
