"""The archive's shows as an OPML 2.0 subscription list (`fonoteca export-opml`, `/shows.opml`), the format podcast
apps and feed readers import and export. Written by the standard library's ElementTree, which escapes every value.

A show read from a feed is an `rss` outline with the publisher's feed address (credentials are kept apart from it in
the archive and never written), so another app subscribes to the same show. A video platform's show is a `link`
outline (apps that cannot read it skip it). Local folders and imported transcripts are nobody's subscription and are
left out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from fonoteca.archive import Show, SourceKind


def shows_opml(shows: Sequence[Show], *, title: str = "fonoteca") -> bytes:
    opml = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(opml, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = ElementTree.SubElement(opml, "body")
    for show in shows:
        if urlsplit(show.source).scheme not in ("http", "https"):
            continue
        attributes = {"text": show.title, "title": show.title}
        if show.source_kind == SourceKind.FEED:
            attributes |= {"type": "rss", "xmlUrl": show.source}
            if show.link:
                attributes["htmlUrl"] = show.link
        elif show.source_kind == SourceKind.PLATFORM:
            attributes |= {"type": "link", "url": show.source}
        else:
            continue
        if show.language or show.feed_language:
            attributes["language"] = str(show.language or show.feed_language)
        ElementTree.SubElement(body, "outline", attributes)
    ElementTree.indent(opml)
    return ElementTree.tostring(opml, encoding="UTF-8", xml_declaration=True) + b"\n"
