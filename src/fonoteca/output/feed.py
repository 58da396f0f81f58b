"""A show as an RSS 2.0 + Podcasting 2.0 feed (`/show/{slug}/feed.xml`, `fonoteca feed SHOW`), and the files it points
at.

The items are the publisher's own: its GUIDs, enclosures, dates, titles and notes, so a podcast app that already
follows the show takes fonoteca's feed for the same show. What fonoteca adds, per finished episode, is what podcast apps
read from the Podcasting 2.0 namespace (PODCAST_NS): `<podcast:transcript>` in WebVTT (with `<v Speaker>` voices when
the transcript names its speakers), Podcasting 2.0 JSON and SRT (`rel="captions"`), `<podcast:person>` for the
speakers a transcript names, and, once an episode has them, `<podcast:chapters>` (JSON v1.2: the publisher's chapters,
else fonoteca's, written by fonoteca.output.chapters) and a `<podcast:soundbite>` per key moment. The transcript files
are written by the one exporter of fonoteca.output.transcripts. The XML is built by lxml (escaping, namespaces and
encoding done by the parser's own serialiser, never by string formatting).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import urlsplit

from lxml import etree

from fonoteca import __version__
from fonoteca.archive import Episode, EpisodeKind, Overview, Show, Status
from fonoteca.text import utc_datetime, xml_text

# The namespace's first address, which the spec still accepts beside https://podcastindex.org/namespace/1.0: every
# parser that reads the newer one reads this one too, and some (gPodder's podcastparser) read only this one.
PODCAST_NS = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM_NS = "http://www.w3.org/2005/Atom"
_NAMESPACES = {"podcast": PODCAST_NS, "itunes": ITUNES_NS, "atom": ATOM_NS}


@dataclass(frozen=True)
class FeedFile:
    """One kind of file the feed links per episode: its name's ending and what it is served as."""

    suffix: str  # the file name after the episode id: "vtt", "json", "srt"
    export: str  # the transcript exporter's format (fonoteca.output.transcripts)
    media_type: str  # the type attribute of <podcast:transcript> and the Content-Type it is served with
    rel: str | None = None


# In the order a podcast app should prefer them: timed with voices first, then the namespace's own JSON, then captions.
TRANSCRIPT_FILES = (
    FeedFile("vtt", "vtt", "text/vtt"),
    FeedFile("json", "json", "application/json"),
    FeedFile("srt", "srt", "application/x-subrip", rel="captions"),
)
CHAPTERS_FILE = FeedFile("chapters.json", "json", "application/json+chapters")  # Podcasting 2.0 chapters, v1.2
FILES_BY_SUFFIX = {f.suffix: f for f in (*TRANSCRIPT_FILES, CHAPTERS_FILE)}
SOUNDBITE_CHARS = 128  # the title the namespace allows a soundbite

# Labels that diarisation or a caption file gives a voice it cannot name: not a person to list.
_UNNAMED = re.compile(r"^(speaker|spk|hablante|locutor|voice|voz|unknown|desconocido)?[\s_#-]*\d*$", re.I)


def named_speakers(speakers: Sequence[str]) -> list[str]:
    """The speakers that are people's names, not "SPEAKER_00" or "Speaker 2"."""
    return [s for s in speakers if not _UNNAMED.match(s.strip())]


def links_transcripts(episode: Episode) -> bool:
    """Whether the feed links transcript files for the episode: a finished one, but not a text post (its text is its
    notes already)."""
    return episode.status == Status.DONE and episode.kind != EpisodeKind.TEXT


def has_chapters(overview: Overview | None) -> bool:
    """Whether the feed links a chapters file for an episode with this overview."""
    return overview is not None and bool(overview.chapters)


def episode_file_url(files_base: str, episode_id: str, suffix: str) -> str:
    """Where a feed links an episode's transcript file: `{files_base}/episodes/{id}.{suffix}`."""
    return f"{files_base.rstrip('/')}/episodes/{episode_id}.{suffix}"


def render_show_feed(
    show: Show,
    episodes: Sequence[Episode],
    *,
    files_base: str,
    self_url: str,
    speakers: Mapping[str, Sequence[str]],
    overviews: Mapping[str, Overview] | None = None,
    show_page: str = "",
    enclosures: bool = True,
    sizes: Mapping[str, int] | None = None,
) -> bytes:
    """The show's feed, newest episode first. `files_base`: the address under which the episodes' transcript files
    are served (their URLs are episode_file_url's); `self_url`: the feed's own address; `speakers`: the names each
    finished transcript gives its speakers (fonoteca.archive's `speakers`); `overviews`: each finished episode's
    chapters and key moments, where it has some (`<podcast:chapters>`, `<podcast:soundbite>`); `enclosures` False
    leaves the publisher's media out (a public archive whose owner plays none to the public); `sizes`: the bytes of
    each episode's enclosure where the archive knows them (the file it downloaded from that URL), its `length`.

    Each speaker is a `<podcast:person>` with a role (the namespace's default is "host"): "host" for a voice heard in
    more than half of the show's episodes whose transcripts name voices, "guest" for the others."""
    rss = etree.Element("rss", version="2.0", nsmap=_NAMESPACES)
    channel = etree.SubElement(rss, "channel")
    _text(channel, "title", show.title)
    _text(channel, "link", show.link or show_page or self_url)
    _text(channel, "description", show.description or show.title)
    if language := show.language or show.feed_language:
        _text(channel, "language", language)
    _text(channel, "generator", f"fonoteca {__version__}")
    etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=self_url, rel="self", type="application/rss+xml")
    if _is_web_url(show.image):
        image = etree.SubElement(channel, "image")
        _text(image, "url", show.image)
        _text(image, "title", show.title)
        _text(image, "link", show.link or show_page or self_url)
        etree.SubElement(channel, f"{{{ITUNES_NS}}}image", href=show.image)
    newest_first = sorted(episodes, key=lambda e: (e.published or "", e.id), reverse=True)
    named = {e.id: named_speakers(speakers.get(e.id, ())) for e in episodes if links_transcripts(e)}
    heard = Counter(name for names in named.values() for name in set(names))
    voiced = sum(1 for names in named.values() if names)
    hosts = {name for name, episodes_heard in heard.items() if episodes_heard * 2 > voiced}
    for episode in newest_first:
        people = [(name, "host" if name in hosts else "guest") for name in named.get(episode.id, ())]
        length = (sizes or {}).get(episode.id, 0)
        _item(channel, episode, files_base, people, (overviews or {}).get(episode.id), enclosures, length)
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _item(
    channel: etree._Element,
    episode: Episode,
    files_base: str,
    people: Sequence[tuple[str, str]],
    overview: Overview | None,
    enclosures: bool,
    length: int,
) -> None:
    item = etree.SubElement(channel, "item")
    _text(item, "title", episode.title)
    etree.SubElement(item, "guid", isPermaLink="false").text = xml_text(episode.guid)
    if date := _rfc822(episode.published):
        _text(item, "pubDate", date)
    if _is_web_url(episode.link):
        _text(item, "link", episode.link)
    if episode.description:
        _text(item, "description", episode.description)
    if enclosures and episode.kind != EpisodeKind.TEXT and _is_web_url(episode.media_url):
        # The publisher's own file, so apps play (and count) it where they always did. RSS 2.0 requires `length`;
        # where the archive does not know the size, the RSS Advisory Board's Best Practices Profile says 0.
        media_type = episode.media_type or ("video/mp4" if episode.kind == EpisodeKind.VIDEO else "audio/mpeg")
        etree.SubElement(item, "enclosure", url=str(episode.media_url), length=str(length), type=media_type)
    if episode.duration:
        _text(item, f"{{{ITUNES_NS}}}duration", str(round(episode.duration)))
    if episode.number:
        _text(item, f"{{{ITUNES_NS}}}episode", str(episode.number))
    if episode.image and _is_web_url(episode.image):
        etree.SubElement(item, f"{{{ITUNES_NS}}}image", href=episode.image)
    if not links_transcripts(episode):
        return
    for file in TRANSCRIPT_FILES:
        attributes = {"url": episode_file_url(files_base, episode.id, file.suffix), "type": file.media_type}
        if episode.language:
            attributes["language"] = episode.language
        if file.rel:
            attributes["rel"] = file.rel
        etree.SubElement(item, f"{{{PODCAST_NS}}}transcript", attributes)
    if has_chapters(overview):
        url = episode_file_url(files_base, episode.id, CHAPTERS_FILE.suffix)
        etree.SubElement(item, f"{{{PODCAST_NS}}}chapters", url=url, type=CHAPTERS_FILE.media_type)
    for moment in overview.moments if overview is not None else ():
        start, duration = f"{moment.start:.1f}", f"{max(moment.end - moment.start, 0.1):.1f}"
        bite = etree.SubElement(item, f"{{{PODCAST_NS}}}soundbite", startTime=start, duration=duration)
        bite.text = xml_text(_cut(moment.quote.strip(), SOUNDBITE_CHARS))
    for name, role in people:
        _text(item, f"{{{PODCAST_NS}}}person", name).set("role", role)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1].rsplit(" ", 1)[0] + "…"


def _text(parent: etree._Element, tag: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = xml_text(value)
    return element


def _is_web_url(value: str | None) -> bool:
    return bool(value) and urlsplit(str(value)).scheme in ("http", "https")


def _rfc822(iso: str | None) -> str | None:
    """An archive date as RSS writes it; None for none or not a date."""
    stamp = utc_datetime(iso)
    return format_datetime(stamp) if stamp else None
