"""OPML subscription lists in (`fonoteca add subscriptions.opml`): every feed outline of the list, nested folders too.

The list is parsed by listparser (the feed-reader world's OPML parser, by feedparser's maintainer), always from bytes:
given a string that looks like a URL it would fetch it itself. It reads through lxml's recovering HTML parser, which
expands no entity and loads no DTD, so an `<!ENTITY>` pointing at a local file or a billion laughs is inert text. The
file is size-limited like a feed (FONOTECA_MAX_FEED_MB).

An OPML list comes from another app, so only its http(s) feed addresses are followed: an outline pointing at a
`file://` path (or any other scheme) is refused with its own line and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fonoteca.errors import FeedError

if TYPE_CHECKING:
    from fonoteca.archive import Show
    from fonoteca.pipeline import SyncReport

OPML_SUFFIXES = (".opml", ".ompl")  # the second is a real typo podcast apps' exports carry


@dataclass(frozen=True)
class Subscription:
    url: str
    title: str
    folder: str = ""  # the outline's folders, outermost first, joined by " / "


@dataclass
class SubscriptionList:
    subscriptions: list[Subscription]
    refused: list[tuple[Subscription, str]] = field(default_factory=list)  # outlines not followed, and why


@dataclass(frozen=True)
class SubscriptionResult:
    """What adding one feed of a list did: its show and sync report, or the error that stopped it."""

    subscription: Subscription
    show: Show | None = None
    report: SyncReport | None = None
    error: str | None = None


def is_opml(source: str) -> bool:
    """Whether `source` is a local OPML file: its name ends in .opml, or it is a file whose first bytes open an
    <opml> document (what some apps export as subscriptions.xml)."""
    path = Path(source).expanduser()
    if urlsplit(source).scheme not in ("", "file") or not path.is_file():
        return False
    if path.suffix.lower() in OPML_SUFFIXES:
        return True
    try:
        with path.open("rb") as file:
            start = file.read(2048).lower()
    except OSError:
        return False
    return b"<opml" in start


def read_subscriptions(path: Path, *, max_mb: int) -> SubscriptionList:
    """The feeds an OPML file subscribes to, in the file's order, each address once."""
    import listparser

    try:
        if path.stat().st_size > max_mb * 1024 * 1024:
            raise FeedError(
                f"{path} is larger than {max_mb} MB", "raise FONOTECA_MAX_FEED_MB if this list is really that large"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror}", "check the path") from exc
    parsed = listparser.parse(data)  # bytes: never a URL for listparser to fetch
    if not parsed.feeds and not parsed.version:
        reason = parsed.bozo_exception or "no <opml> document"
        raise FeedError(f"{path} is not an OPML subscription list ({reason})", "export the list again from the app")
    found = SubscriptionList([])
    seen: set[str] = set()
    for feed in parsed.feeds:
        url = (feed.get("url") or "").strip()
        folders = feed.get("categories") or [[]]
        subscription = Subscription(url, (feed.get("title") or "").strip() or url, " / ".join(folders[0]))
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            found.refused.append((subscription, "only http(s) feed addresses are followed from a subscription list"))
        elif url not in seen:
            seen.add(url)
            found.subscriptions.append(subscription)
    return found
