"""Watched words: be told when a word or phrase is said again.

After every sync (Fonoteca.add, sync and retry call `Watcher.after_sync` once the index is up to date) each watch scans
the transcripts it has not scanned at their current revision, and records every line that says its word: the episode,
the second and the line. A line matches exactly as search matches it (fonoteca.search.occurrences over the words of
fonoteca.text: whole words, accent- and case-insensitive; a phrase's words in order within one line), so every
mention is a line that a search for the word finds. The episodes already transcribed when a watch is added are
recorded as scanned: a watch tells what is said from then on (the word's past is what search and trends show).

Mentions are delivered three ways: `fonoteca watch` (and the /watch page) lists the ones not seen yet, /watch.atom is
an Atom feed of the latest, and with FONOTECA_WEBHOOK_URL each scan's new mentions are POSTed as one JSON batch. The
batch waits in the archive's outbox until the receiver takes it (a 2xx answer): a failing receiver costs a sync at most
WEBHOOK_TIMEOUT_S, and the batch is tried again, with exponential back-off, by the next sync or `fonoteca watch`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from fonoteca.archive import Archive
from fonoteca.archive.watches import Batch, FoundMention, Mention, Watch
from fonoteca.errors import ConfigError, NotFound
from fonoteca.events import EventSink, Note, ignore
from fonoteca.ingest.net import GuardedTransport
from fonoteca.output import WebhookOut, dump
from fonoteca.search import occurrences
from fonoteca.search.query import Clause
from fonoteca.settings import Settings
from fonoteca.text import words

__all__ = ["Delivery", "Mention", "Watch", "Watcher"]

WEBHOOK_TIMEOUT_S = 5.0  # a sync waits at most this long for a receiver, all its batches together
FIRST_RETRY_S = 60.0  # then 2, 4, 8… minutes
MAX_RETRY_S = 6 * 3600.0


@dataclass
class Delivery:
    """What one delivery round did: batches (and their mentions) taken by the receiver, and those left for later."""

    delivered: int = 0
    mentions: int = 0
    waiting: int = 0  # batches still in the outbox
    error: str = ""  # why the last attempt failed
    next_attempt: float | None = None  # unix time of the next try


def _clause(folded: str) -> Clause:
    return Clause(folded.split())


def watch_words(term: str) -> str:
    """The folded words of a term to watch, space-separated: the whole term is one word or one phrase (quotes or not),
    as a trend's term is."""
    folded = words(term)
    if not folded:
        raise ConfigError(
            f"{term!r} has no words to watch", 'give a word, or a phrase in quotes: watch add "inteligencia artificial"'
        )
    return " ".join(folded)


def _host_of(url: str) -> str:
    """The receiver's host alone, to name it: a webhook's path or query is often its secret (Slack's, Discord's)."""
    try:
        return urlsplit(url).hostname or "FONOTECA_WEBHOOK_URL"
    except ValueError:
        return "FONOTECA_WEBHOOK_URL"


class Watcher:
    """The watches of one archive: adding and removing them, scanning after a sync, delivering what was found."""

    def __init__(self, archive: Archive, settings: Settings, *, events: EventSink = ignore) -> None:
        self.archive, self.settings, self.events = archive, settings, events
        self.store = archive.watches

    @property
    def base_url(self) -> str:
        """Where `fonoteca serve` answers, for the links that leave the web app (webhook, CLI)."""
        return f"http://{self.settings.host}:{self.settings.port}"

    # -- the watches ------------------------------------------------------------------------------------------------

    def add(self, term: str, show: str | None = None) -> Watch:
        show_id = self.archive.get_show(show).id if show else None
        return self.store.add(term.strip().strip('"').strip(), watch_words(term), show_id)

    def remove(self, ref: str, show: str | None = None) -> Watch:
        """Remove a watch by its id, or by its word (with `show` when the word is watched in several shows)."""
        if ref.strip().isdigit():
            watch = self.store.get(int(ref))
        else:
            found = self.store.find(watch_words(ref))
            if show:
                show_id = self.archive.get_show(show).id
                found = [w for w in found if w.show_id == show_id]
            if not found:
                raise NotFound(f"{ref!r} is not watched", "see the watches with `fonoteca watch list`")
            if len(found) > 1:
                raise ConfigError(
                    f"{ref!r} is watched {len(found)} times (in different shows)",
                    "say which with --show SHOW, or remove it by its id (`fonoteca watch list`)",
                )
            watch = found[0]
        self.store.remove(watch.id)
        return watch

    def list(self) -> list[Watch]:
        return self.store.list()

    # -- after a sync -----------------------------------------------------------------------------------------------

    def scan(self) -> list[Mention]:
        """Record the mentions in every transcript revision a watch has not scanned yet; returns the new ones."""
        pending = self.store.pending()
        scanned: list[tuple[int, str, int]] = []
        found: list[FoundMention] = []
        for (episode_id, rev), watches in pending.items():
            lines = [(s, words(s.text)) for s in self.archive.segments(episode_id, words=False)]
            for watch in watches:
                clause = _clause(watch.folded)
                for segment, folded in lines:
                    if count := len(occurrences(clause, folded)):
                        found.append(
                            FoundMention(watch.id, episode_id, rev, segment.start, segment.text.strip(), count)
                        )
                scanned.append((watch.id, episode_id, rev))
        if not scanned:
            return []
        return self.store.record(scanned, found, outbox=bool(self.settings.webhook_url))

    def deliver(self, now: float | None = None) -> Delivery:
        """POST the outbox's due batches to the webhook, oldest first; the first failure leaves the rest for later."""
        report = Delivery()
        url = self.settings.webhook_url
        if not url:
            return report
        now = time.time() if now is None else now
        # The deadline bounds the whole round, however slowly a receiver drips its answers.
        transport = GuardedTransport(deadline=WEBHOOK_TIMEOUT_S)
        with httpx.Client(timeout=WEBHOOK_TIMEOUT_S, transport=transport) as client:
            for batch in self.store.due_batches(now):
                mentions = self.store.batch_mentions(batch.id)
                if mentions and (error := self._post(client, url, batch, mentions)):
                    report.error = error
                    report.next_attempt = now + min(FIRST_RETRY_S * 2**batch.attempts, MAX_RETRY_S)
                    self.store.failed(batch.id, error, report.next_attempt)
                    break
                self.store.delivered(batch.id)  # an empty batch's mentions went with their episode or watch
                report.delivered += 1
                report.mentions += len(mentions)
        report.waiting = len(self.store.undelivered())
        return report

    def _post(self, client: httpx.Client, url: str, batch: Batch, mentions: list[Mention]) -> str:
        """'' when the receiver took the batch, else why not. Only the status is read: a receiver's reply, however
        big, is never read (the connection is closed on it)."""
        body = dump(WebhookOut.of(batch.id, mentions, self.base_url))
        try:
            with client.stream("POST", url, json=body) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return f"no answer within {WEBHOOK_TIMEOUT_S:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return str(exc) or type(exc).__name__
        return "" if 200 <= status < 300 else f"HTTP {status}"

    def after_sync(self) -> list[Mention]:
        """Scan, then deliver; each says what it did in one note. A receiver that fails never fails the sync."""
        found = self.scan()
        if found:
            terms = ", ".join(f"“{term}” {n}" for term, n in Counter(m.term for m in found).items())
            self.events(Note(f"{len(found)} new mention(s) of watched words ({terms}): see them with `fonoteca watch`"))
        self.deliver_and_report()
        return found

    def deliver_and_report(self, now: float | None = None) -> Delivery:
        report = self.deliver(now)
        if report.error:
            when = datetime.fromtimestamp(report.next_attempt or 0, UTC).strftime("%H:%M:%S UTC")
            receiver = _host_of(self.settings.webhook_url)
            self.events(
                Note(
                    f"the webhook at {receiver} did not take the new mentions ({report.error}); "
                    f"{report.waiting} batch(es) kept, tried again after {when} by the next sync or `fonoteca watch`"
                )
            )
        return report

    # -- reading ----------------------------------------------------------------------------------------------------

    def take_unseen(self) -> list[Mention]:
        """The mentions not listed before, oldest first; they will not be listed again."""
        mentions = self.store.unseen()
        if mentions:
            self.store.mark_seen(mentions[-1].id)
        return mentions

    def recent(self, limit: int = 100) -> list[Mention]:
        return self.store.recent(limit)

    def mark_seen(self, up_to: int) -> None:
        """The mentions up to this id were shown (the web page): `fonoteca watch` will not list them again."""
        self.store.mark_seen(up_to)
