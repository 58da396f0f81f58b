"""Which failed jobs a worker tries again: the error classes' own `retryable` decides (fonoteca.errors), so the retry
rule and the classes cannot disagree; analyses also try again when the language model answered badly."""

from __future__ import annotations

import pytest
from procrastinate.jobs import Job

from fonoteca.archive import EpisodeBusy
from fonoteca.errors import (
    ConfigError,
    FeedError,
    FeedUnreachable,
    FonotecaError,
    LLMError,
    MediaError,
    MediaUnreachable,
    ModelError,
    NotFound,
    StorageError,
    Unreachable,
)
from fonoteca.jobs import LLM_RETRY, RETRY
from fonoteca.pipeline import is_fatal

RETRYABLE = [Unreachable, FeedUnreachable, MediaUnreachable, EpisodeBusy, ModelError, StorageError]
NOT_RETRYABLE = [FonotecaError, NotFound, FeedError, MediaError, ConfigError, LLMError]


def _job(attempts: int = 0) -> Job:
    return Job(id=1, queue="transcribe", lock=None, queueing_lock=None, task_name="fonoteca.transcribe_episode",
               attempts=attempts)  # fmt: skip


@pytest.mark.parametrize("error", RETRYABLE)
def test_a_retryable_error_is_tried_again_until_the_tries_run_out(error: type[FonotecaError]) -> None:
    assert error.retryable
    assert RETRY.get_retry_decision(exception=error("x"), job=_job()) is not None
    assert RETRY.get_retry_decision(exception=error("x"), job=_job(attempts=RETRY.max_attempts)) is None


@pytest.mark.parametrize("error", [*NOT_RETRYABLE, ValueError])
def test_any_other_error_fails_the_job_at_once(error: type[Exception]) -> None:
    assert RETRY.get_retry_decision(exception=error("x"), job=_job()) is None


def test_the_errors_that_stop_a_sync_are_ones_a_worker_tries_again() -> None:
    assert all(error.retryable for error in RETRYABLE + NOT_RETRYABLE if is_fatal(error("x")))


@pytest.mark.parametrize("error", [LLMError, StorageError, Unreachable])
def test_an_analysis_is_tried_again_when_the_model_or_the_archive_failed(error: type[FonotecaError]) -> None:
    assert LLM_RETRY.get_retry_decision(exception=error("x"), job=_job()) is not None


@pytest.mark.parametrize("error", [NotFound, ConfigError, ValueError])
def test_an_analysis_fails_at_once_on_anything_else(error: type[Exception]) -> None:
    assert LLM_RETRY.get_retry_decision(exception=error("x"), job=_job()) is None
