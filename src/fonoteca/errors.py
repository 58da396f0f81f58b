"""Errors a user can act on: each carries what went wrong and what to do about it, printed as one line."""

from __future__ import annotations

import errno
from http import HTTPStatus


class FonotecaError(Exception):
    """An expected failure (bad input, unreachable server, full disk). Each class says once how every edge treats it:
    the CLI prints the one line and exits with `exit_code`, the web answers `http_status` with the same line, and a
    worker tries a job again when the error is `retryable` (it is not the episode's fault and may well pass later)."""

    exit_code: int = 1
    http_status: int = 400  # unless its class says otherwise, the request asked what this archive cannot do (yet)
    retryable: bool = False

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def told_to(self, owner: bool) -> str:
        """The line as someone other than the owner may read it (the web's and MCP's public): the server's own trouble
        (a full disk, a model or database that is down: 5xx) names its folders and servers, so anyone else reads only
        that it failed; a busy server's line says when to come back, and is kept."""
        if owner or self.http_status < 500 or isinstance(self, Overloaded):
            return str(self)
        return f"{HTTPStatus(self.http_status).phrase}: the archive cannot answer this now, try again later"


class NotFound(FonotecaError):
    """A show, episode or file the user named does not exist."""

    http_status = 404


class FeedError(FonotecaError):
    """A feed could not be fetched or parsed."""

    http_status = 502


class MediaError(FonotecaError):
    """A media file or enclosure is missing, not media, or cannot be decoded."""

    http_status = 422


class LLMError(FonotecaError):
    """The language model server is unreachable or answered something unusable."""

    http_status = 502


class CorrectionError(FonotecaError):
    """A vocabulary term, correction rule, rules file or line edit fonoteca cannot use."""

    http_status = 422


class SpeakerError(FonotecaError):
    """A speaker cannot be named, merged or split so (an empty name, a speaker merged with itself)."""

    http_status = 422


class ConfigError(FonotecaError):
    """A FONOTECA_* variable or a command-line value is not one fonoteca accepts."""

    http_status = 422  # a value the request gave: what FastAPI answers for a query value its own checks refuse


class ModelError(FonotecaError):
    """The Whisper model cannot be found or loaded: the same for every episode, so a sync stops on it."""

    http_status = 503
    retryable = True


class StorageError(FonotecaError):
    """The data folder or the archive cannot be written (full disk, permissions): every episode would fail alike."""

    http_status = 503
    retryable = True


class Unreachable(FonotecaError):
    """A server that did not answer, dropped the connection or said it is overloaded (a 5xx, 429): the same request
    may well succeed later, so a worker tries the job again with back-off (a 404 or a page that is not media fails at
    once). Raised as the feed's or the media's own error class too (FeedUnreachable, MediaUnreachable)."""

    http_status = 503
    retryable = True


class Overloaded(FonotecaError):
    """The server has as much of this work as it takes for now (the public's chat): the request may be made again
    after `retry_after` seconds, which the web sends as `Retry-After`."""

    http_status = 503
    retryable = True

    def __init__(self, message: str, hint: str = "", *, retry_after: int) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class TooManyRequests(Overloaded):
    """One client asked more than its share (per address, per hour)."""

    http_status = 429


class FeedUnreachable(FeedError, Unreachable):
    """A feed that could not be fetched for now."""


class MediaUnreachable(MediaError, Unreachable):
    """An enclosure whose download kept failing on the way (connection dropped, 5xx, timeout)."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, is 'no space left on device' (tantivy reports it as text)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "no space left on device" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_error(exc: BaseException, path: object) -> StorageError:
    """The one line for a write that failed: a full disk says so, anything else names the folder to fix."""
    if is_disk_full(exc):
        return StorageError(
            f"the disk is full while writing {path}",
            "free some space (or move the data folder with FONOTECA_HOME) and run `fonoteca sync` to resume",
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return StorageError(
        f"cannot write {path}: {reason}", "make the data folder writable, or choose another with FONOTECA_HOME"
    )
