"""Errors a user can act on: each carries what went wrong and what to do about it, printed as one line."""

from __future__ import annotations


class FonotecaError(Exception):
    """An expected failure (bad input, unreachable server, full disk). The CLI prints it as one line and exits 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class NotFound(FonotecaError):
    """A show, episode or file the user named does not exist."""


class FeedError(FonotecaError):
    """A feed could not be fetched or parsed."""


class MediaError(FonotecaError):
    """A media file or enclosure is missing, not media, or cannot be decoded."""


class LLMError(FonotecaError):
    """The language model server is unreachable or answered something unusable."""
