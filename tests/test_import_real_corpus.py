"""`fonoteca import` on real transcripts no one here wrote: the whole corpus of ../shared/data/transcripts (Talk
Python's WebVTT, Venezolanos' Markdown, the Podcasting 2.0 examples and spec page) and Lenny's Podcast's Markdown,
whose paragraph stamps are rounded a few seconds behind the turn before. Nothing a person can read is lost; a file
that jumps back to its start or by a minute or more (joined or damaged) is still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_path

from fonoteca.app import Fonoteca
from fonoteca.ingest.importer import Outcome
from fonoteca.ingest.transcripts import read_transcript
from fonoteca.settings import Settings

# Lines 120-127 of the transcript of Lenny's Podcast's episode with Claire Butler (2023-09-07), as published in the
# lennys-podcast-transcripts repositories, with its front matter cut to the fields fonoteca reads: one of the 12 of
# 303 files the import refused ("segment 60 starts at 23:00, after one at 23:02"). The publisher joined four parts
# that overlap: the second repeats the last words of the first, stamped to the minute.
CLAIRE_BUTLER = """---
guest: Claire Butler
title: An inside look at Figma’s unique GTM motion | Claire Butler (first GTM hire)
publish_date: '2023-09-07'
duration: '1:31:26'
channel: Lenny's Podcast
---

# An inside look at Figma’s unique GTM motion | Claire Butler (first GTM hire)

## Transcript

Claire Butler (00:22:28):
And that kind of emotion, no reaction of wanting to play with it in these demos was really what gave me confidence \
that we were ready to launch. And to me that was enough confidence that like, "Okay, it's worth it. Let's get out of \
stealth."
Lenny (00:23:02):
That story of the-
PART 1 OF 4 ENDS [00:23:04]
Claire Butler (00:23:00):
... let's get out of stealth.
Lenny (00:23:02):
That story of the potential customer pulling the laptop from Dylan is such a good metaphor for product market fit, \
which people describe as you feel pull.
Claire Butler (00:23:19):
At these early days, especially with bottoms-up and with all these things...
"""


@pytest.fixture
def app(settings: Settings):
    with Fonoteca(settings.replace(embeddings="none")) as fonoteca:
        yield fonoteca


def _lennys_markdown(vtt: Path) -> str:
    """A real transcript (Talk Python's WebVTT) in the layout of Lenny's Podcast's files: front matter, a heading,
    `Speaker (HH:MM:SS):` at each turn, to the second, and `(HH:MM:SS):` at each paragraph after it, rounded down to
    the minute, as that publisher writes them."""
    segments = read_transcript(vtt.read_bytes(), vtt.name).segments

    def clock(seconds: float) -> str:
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    lines = ["---", f"title: {vtt.stem}", "channel: Talk Python To Me", "---", "", f"# {vtt.stem}", "", "## Transcript"]
    for n in range(0, len(segments), 3):  # a paragraph of three cues; a turn of four paragraphs
        paragraph = segments[n : n + 3]
        text = " ".join(s.text for s in paragraph)
        if n % 12 == 0:
            lines.append(f"{'Michael' if n % 24 == 0 else 'Guest'} ({clock(paragraph[0].start)}):")
        else:
            lines.append(f"({clock(paragraph[0].start // 60 * 60)}):")
        lines.append(text)
    return "\n".join(lines) + "\n"


def test_lennys_paragraph_stamps_rounded_behind_the_turn_before_are_imported_in_order_and_noted(
    app: Fonoteca, tmp_path: Path
):
    (tmp_path / "claire-butler.md").write_text(CLAIRE_BUTLER)
    report = app.import_transcripts([tmp_path])
    (created,) = report.of(Outcome.CREATED)
    assert created.title.startswith("An inside look at Figma’s unique GTM motion")
    assert created.notes == ["1 start time up to 2 s behind the one before (rounded by the publisher) moved up to it"]
    segments = app.archive.segments(created.episode_id)
    assert [s.text for s in segments][1:4] == [
        "That story of the-",  # the part's end mark, `PART 1 OF 4 ENDS [00:23:04]`, is a turn with no words
        "... let's get out of stealth.",
        "That story of the potential customer pulling the laptop from Dylan is such a good metaphor for product "
        "market fit, which people describe as you feel pull.",
    ]  # the file's order, every paragraph
    assert [(s.start, s.speaker) for s in segments] == [
        (1348.0, "Claire Butler"), (1382.0, "Lenny"), (1382.0, "Claire Butler"), (1382.0, "Lenny"),
        (1399.0, "Claire Butler"),
    ]  # fmt: skip
    assert all(s.end >= s.start for s in segments)
    assert app.episode(created.episode_id).date == "2023-09-07"


def test_every_talk_python_file_written_the_way_lennys_publisher_writes_is_imported(app: Fonoteca, tmp_path: Path):
    source = sorted(shared_path("transcripts", "talkpython_en_vtt_subset").glob("*.vtt"))
    for vtt in source:
        (tmp_path / f"{vtt.stem}.md").write_text(_lennys_markdown(vtt))
    report = app.import_transcripts([tmp_path])
    assert len(report.of(Outcome.CREATED)) == len(source) == 80, [f.reason for f in report.of(Outcome.UNREADABLE)]
    noted = [f for f in report.of(Outcome.CREATED) if f.notes]
    assert len(noted) > 40  # most have a paragraph stamped before the turn it follows
    for result in report.of(Outcome.CREATED):
        starts = [s.start for s in app.archive.segments(result.episode_id, words=False)]
        assert all(start >= max(starts[:n], default=0) - 1 for n, start in enumerate(starts))  # cues may overlap by 1 s


@pytest.mark.parametrize(
    ("back_to", "shown", "why"),
    [
        ("00:00:00", "0:00", "back to its start: a second transcript joined on"),
        ("00:22:19", "22:19", "a minute back: damaged"),
    ],
)
def test_a_lennys_file_that_jumps_back_to_its_start_or_by_a_minute_is_still_refused(
    app: Fonoteca, tmp_path: Path, back_to: str, shown: str, why: str
):
    joined = CLAIRE_BUTLER + f"Lenny ({back_to}):\nWelcome to Lenny's podcast.\n"
    (tmp_path / "joined.md").write_text(joined)
    (tmp_path / "claire-butler.md").write_text(CLAIRE_BUTLER)
    report = app.import_transcripts([tmp_path])
    (refused,) = report.of(Outcome.UNREADABLE)
    assert Path(refused.path).name == "joined.md", why
    assert f"starts at {shown}, after one at 23:19" in refused.reason
    assert "several transcripts were joined" in refused.reason
    assert [Path(f.path).name for f in report.of(Outcome.CREATED)] == ["claire-butler.md"]


def test_the_whole_real_transcript_corpus_is_imported_and_no_file_a_person_can_read_is_lost(
    app: Fonoteca,
):
    corpus = shared_path("transcripts")
    report = app.import_transcripts([corpus])
    refused = {Path(f.path).relative_to(corpus).as_posix(): f.reason for f in report.of(Outcome.UNREADABLE)}
    # Not transcripts: Podcasting 2.0 chapters and the Venezolanos catalogue, JSON without a transcript's segments.
    assert set(refused) == {
        "podcast20_spec_examples/chapters/example.json",
        "podcast20_spec_examples/chapters/exampleComplex.json",
        "venezolanos_es/datos/archivo.json",
    }, refused
    assert all("has no transcript text" in reason for reason in refused.values())
    created = {Path(f.path).relative_to(corpus).as_posix() for f in report.of(Outcome.CREATED)}
    assert len([c for c in created if c.startswith("talkpython_en_vtt_subset/")]) == 80
    assert len([c for c in created if c.startswith("venezolanos_es/episodios/")]) == 364
    # The spec page shows each format's example in a code block: read as its prose, not timed by the examples.
    spec = next(f for f in report.of(Outcome.CREATED) if f.path.endswith("transcripts.md"))
    assert app.archive.last_segment_end(spec.episode_id) == 0.0
    assert "podcast20_spec_examples/transcripts/example.json" in created  # and .vtt/.srt/.html as its duplicates
    assert len(report.of(Outcome.DUPLICATE)) == 3
