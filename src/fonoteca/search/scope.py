"""What part of the archive a search, a chat or a trend looks at: one show, one episode, a span of dates, one speaker.

A `SearchScope` is built once where a request comes in (fonoteca.app.Fonoteca), from what the person typed: the dates
are checked and turned into bounds there, the show and episode found in the archive there, and everything below
(keyword search, search by meaning, the chat, trends) reads the resolved values only."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fonoteca.archive import Archive
from fonoteca.search.index import date_bound, speaker_key


@dataclass(frozen=True)
class SearchScope:
    show_id: int | None = None
    episode_id: str | None = None
    # Epoch seconds (UTC) of the first and last second allowed. An undated episode is outside any span of dates:
    # nobody knows whether it was before or after.
    first_second: int | None = None
    last_second: int | None = None
    # The folded words of a speaker's label (index.speaker_key): only the lines that speaker says. Any spelling of the
    # name finds them ("ana maria" finds "Ana María"); a name nobody in the archive has finds nothing.
    speaker: str | None = None

    @classmethod
    def of(
        cls,
        archive: Archive,
        *,
        show: str | None = None,
        episode: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        speaker: str | None = None,
    ) -> SearchScope:
        """`show`: slug, id or title; `episode`: id; dates: YYYY, YYYY-MM or YYYY-MM-DD, each from its first second
        or up to its last (`--from 2024-02 --to 2024-02` is the whole of February), empty for none. Raises BadDate
        for a bad date (checked before anything is looked up), NotFound for an unknown show or episode."""
        first_second = date_bound(date_from, end=False) if date_from else None
        last_second = date_bound(date_to, end=True) if date_to else None
        return cls(
            show_id=archive.get_show(show).id if show else None,
            episode_id=archive.get_episode(episode).id if episode else None,
            first_second=first_second,
            last_second=last_second,
            speaker=(speaker_key(speaker) or speaker.strip().casefold()) if speaker and speaker.strip() else None,
        )

    def between(self, date_from: str, date_to: str) -> SearchScope:
        """This scope narrowed to the days from `date_from` to `date_to` (as `of` reads them)."""
        return replace(self, first_second=date_bound(date_from, end=False), last_second=date_bound(date_to, end=True))

    @property
    def dated(self) -> bool:
        return self.first_second is not None or self.last_second is not None

    @property
    def narrowed(self) -> bool:
        """Whether it is less than the whole archive."""
        return self.show_id is not None or self.episode_id is not None or self.dated or self.speaker is not None

    def allows(self, show_ids: np.ndarray, episode_ids: list[str], epochs: np.ndarray) -> np.ndarray:
        """Which of these episodes (their show ids, ids and publication times, 0 = unknown) are in the scope: the
        same rule as the keyword index's query (fonoteca.search.build_query). A speaker is a matter of lines, not of
        episodes: search by meaning narrows to the passages they say most of (fonoteca.search.hybrid)."""
        allowed = np.ones(len(episode_ids), bool)
        if self.show_id is not None:
            allowed &= show_ids == self.show_id
        if self.episode_id is not None:
            allowed &= np.array([e == self.episode_id for e in episode_ids], bool)
        if self.dated:
            allowed &= epochs >= (self.first_second if self.first_second is not None else 1)
            if self.last_second is not None:
                allowed &= epochs <= self.last_second
        return allowed


EVERYWHERE = SearchScope()
