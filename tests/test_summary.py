"""An episode's summary: with a capable endpoint, written from its chapters and key moments and citing them, every
citation checked against what the model was given and shown as a link to its second; on the embedded setup, the key
moments themselves, wherever a summary is asked for (the analyser, the CLI, the API, the owner's page).

The checker is proved on hand-written model answers (valid, invalid and out-of-range citations); the plumbing with the
real llama.cpp server and the small real model, whose wording no assertion depends on: whatever it cites, what is
left points at what it was given."""

from __future__ import annotations

import json
import re

import pytest
from conftest import shared_path
from fastapi.testclient import TestClient
from markupsafe import escape
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Chapter, ChapterSource, EpisodeKind, KeyMoment, Source, SourceKind
from fonoteca.cli import app as cli
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.llm import prompts
from fonoteca.llm.analyze import prompt_version
from fonoteca.llm.server import free_port
from fonoteca.llm.summary import KEY_MOMENTS, KEY_MOMENTS_NOTE, MARKER, Sources, check_citations, summary_parts
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

_GENERATED = ChapterSource.GENERATED
# A short episode's chapters and key moments, as make_overview stores them.
SOURCES = Sources(
    "ep1",
    [Chapter(0.0, "La Voyager 1", 42.0, _GENERATED), Chapter(42.0, "Tarjeta gráfica · monitor LG", None, _GENERATED)],
    [
        KeyMoment(0.0, 6.0, "La sonda Voyager 1 de la NASA ha vuelto a dar señales de vida."),
        KeyMoment(18.5, 24.0, "Alguien de la NASA la decodificó."),
        KeyMoment(48.0, 54.0, "Y de un monitor LG ultrapanorámico con FreeSync que nos encantó."),
    ],
)


def test_citations_of_what_the_model_was_not_given_are_dropped_and_counted_and_the_rest_link_to_their_second():
    answer = (
        "La Voyager 1 volvió a hablar [1]. La NASA la decodificó [2, 9]. Luego, hardware [0:42] y un monitor "
        "(0:30) [7]. Al final [99:00] nada más. En [2024] (3) salió [0:48]."
    )
    checked = check_citations(answer, SOURCES, words=100)
    assert checked.text == (
        "La Voyager 1 volvió a hablar [1]. La NASA la decodificó [2]. Luego, hardware [0:42] y un monitor. Al final "
        "nada más. En [2024] (3) salió [0:48]."
    ), "a year and a number in parentheses are prose, not citations"
    # [9] and [7]: no such key moment; 0:30: inside the episode but nothing given starts there; 99:00: past its end.
    assert checked.dropped == ["[9]", "[0:30]", "[7]", "[99:00]"]
    assert [(c.marker, c.start, c.moment, c.chapter) for c in checked.citations] == [
        ("[1]", 0.0, 1, None),
        ("[2]", 18.5, 2, None),
        ("[0:42]", 42.0, None, "Tarjeta gráfica · monitor LG"),
        ("[0:48]", 48.0, 3, None),  # a key moment cited by its time
    ]
    assert checked.citations[1].quote == "Alguien de la NASA la decodificó."
    assert [c.url for c in checked.citations] == ["/episode/ep1?t=0", "/episode/ep1?t=18", "/episode/ep1?t=42",
                                                  "/episode/ep1?t=48"]  # fmt: skip

    links = [(piece, cited["start"]) for piece, cited in summary_parts(checked.result(words=100)) if cited]
    assert links == [("[1]", 0.0), ("[2]", 18.5), ("[0:42]", 42.0), ("[0:48]", 48.0)]
    assert "".join(piece for piece, _ in summary_parts(checked.result(words=100))) == checked.text


def test_a_summary_whose_citations_are_all_invented_keeps_its_prose_and_no_link():
    checked = check_citations("Hablan de Marte [12] [1:00:00] y de Júpiter (5:55).", SOURCES, words=100)
    assert checked.text == "Hablan de Marte y de Júpiter."
    assert checked.citations == [] and checked.dropped == ["[12]", "[1:00:00]", "[5:55]"]
    assert summary_parts(checked.result()) == [("Hablan de Marte y de Júpiter.", None)]


def test_a_citation_the_answers_token_limit_cut_in_the_middle_is_dropped():
    checked = check_citations("La NASA la decodificó [2] y luego [0:4", SOURCES, words=100)
    assert checked.text == "La NASA la decodificó [2] y luego" and checked.dropped == ["[0:4"]


def test_citations_are_not_words_of_the_summary_and_those_the_word_limit_cuts_are_not_listed():
    checked = check_citations("Uno dos [1] tres [2]. Cuatro cinco seis [0:42].", SOURCES, words=5)
    assert checked.text == "Uno dos [1] tres [2]. Cuatro cinco…"
    assert [c.marker for c in checked.citations] == ["[1]", "[2]"]


def test_the_prompt_gives_the_chapters_by_time_and_the_key_moments_numbered_with_their_quotes():
    chapters, moments = SOURCES.listed()
    assert chapters.splitlines() == ["[0:00] La Voyager 1", "[0:42] Tarjeta gráfica · monitor LG"]
    assert moments.splitlines()[1] == "[2] (0:18) “Alguien de la NASA la decodificó.”"
    [_, user] = prompts.SUMMARY.messages(language="Spanish", words=30, focus=None, chapters=chapters, moments=moments)
    assert chapters in user["content"] and moments in user["content"] and "[2]" in user["content"]
    _, shortened = SOURCES.listed(quote_chars=20)
    assert shortened.splitlines()[0] == "[1] (0:00) “La sonda Voyager 1…”"


# -- on an archive ----------------------------------------------------------------------------------------------------

TALK_PYTHON = ("transcripts", "talkpython_en_vtt_subset")


def _episode_with_key_moments(archive: Archive, settings: Settings) -> str:
    """A real transcript (Talk Python 017) with its chapters and key moments made, passages compared by their words."""
    segments = parse_transcript(shared_path(*TALK_PYTHON, "017_micropython.vtt").read_bytes(), "vtt")
    show, _ = archive.add_show(title="Talk Python", source="test://talkpython", source_kind=SourceKind.TRANSCRIPTS)
    episode, _ = archive.upsert_episode(show, guid="017", title="MicroPython", kind=EpisodeKind.AUDIO)
    archive.replace_transcript(episode.id, segments, source=Source.IMPORTED, language="en", duration=segments[-1].end)
    fonoteca = Fonoteca(settings.replace(embeddings="none"), archive=archive)
    fonoteca.update_index()
    assert fonoteca.glance() == 1
    return episode.id


def _nowhere(settings: Settings) -> Settings:
    """No model server: whatever the embedded setup's summary needs, it is not a model."""
    return settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1", embeddings="none")


def test_on_the_embedded_setup_the_summary_is_the_key_moments_everywhere_it_is_asked_for(archive, settings):
    episode_id = _episode_with_key_moments(archive, settings)
    overview = archive.overviews.overview(episode_id)
    expected = [(m.start, m.quote) for m in overview.moments]
    settings = _nowhere(settings)

    fonoteca = Fonoteca(settings, archive=archive)
    summary = fonoteca.analyze(episode_id, ["summary"]).reports[0].analyses["summary"]
    assert summary.model == KEY_MOMENTS and summary.result["note"] == KEY_MOMENTS_NOTE
    assert [(m["start"], m["quote"]) for m in summary.result["key_moments"]] == expected
    assert sum(fonoteca.llm.calls.values()) == 0 and archive.list_analyses(episode_id) == []

    env = {"FONOTECA_HOME": str(settings.home), "FONOTECA_EMBEDDINGS": "none", "FONOTECA_LLM_BASE_URL":
           settings.llm_base_url}  # fmt: skip
    printed = CliRunner().invoke(cli, ["analyze", episode_id, "--what", "summary"], env=env)
    assert printed.exit_code == 0, printed.output
    assert "FONOTECA_LLM_CAPABLE=true" in " ".join(printed.output.split())
    assert all(" ".join(quote.split()[:4]) in " ".join(printed.output.split()) for _, quote in expected)
    as_json = CliRunner().invoke(cli, ["analyze", episode_id, "--what", "summary", "--json"], env=env)
    [report] = json.loads(as_json.stdout)
    assert report["summary"]["text"] is None and report["summary"]["note"] == KEY_MOMENTS_NOTE
    assert [(m["start"], m["quote"]) for m in report["summary"]["key_moments"]] == expected
    assert report["model"] == KEY_MOMENTS

    with TestClient(create_app(settings)) as client:
        answer = client.post(f"/api/episodes/{episode_id}/analyses", json={"what": ["summary"]})
        assert answer.status_code == 200, answer.text
        [analysis] = answer.json()["analyses"]
        assert analysis["model"] == KEY_MOMENTS and analysis["result"]["key_moments"] == summary.result["key_moments"]
        page = client.get(f"/episode/{episode_id}").text
    assert 'value="summary"' not in page and 'name="words"' not in page, "no model summary to ask for"
    assert str(escape(KEY_MOMENTS_NOTE)) in page and 'class="key-moments"' in page


@pytest.mark.slow
def test_a_capable_endpoints_summary_keeps_only_citations_of_what_it_was_given_each_a_link_to_its_second(
    archive, llm_settings
):
    episode_id = _episode_with_key_moments(archive, llm_settings)
    overview = archive.overviews.overview(episode_id)
    moments = {n: m for n, m in enumerate(overview.moments, start=1)}
    given = {m.start for m in overview.moments} | {c.start for c in overview.shown_chapters}
    # The small model stands in for a capable one: the plumbing is the same, its wording is never relied on.
    capable = llm_settings.replace(llm_capable=True, llm_timeout=600)
    fonoteca = Fonoteca(capable, archive=archive)
    [report] = fonoteca.analyze(episode_id, ["summary"], words=40).reports
    summary = report.analyses["summary"]
    assert summary.model == "smollm2-135m-instruct" and summary.prompt_version == prompt_version("summary")
    assert fonoteca.llm.calls["summary"] == 1 and fonoteca.llm.calls["map"] == 0, "written from the key moments"
    stored = archive.get_analysis(episode_id, "summary", summary.params)
    assert stored is not None and stored.result == summary.result
    text, citations = stored.result["text"], stored.result["citations"]
    assert text.strip()
    markers = [match.group(0) for match in MARKER.finditer(text)]
    assert [c["marker"] for c in citations] == list(dict.fromkeys(markers)), "every citation left in the text, listed"
    for citation in citations:
        assert citation["start"] in given and citation["url"] == f"/episode/{episode_id}?t={int(citation['start'])}"
        if citation["moment"] is not None:
            moment = moments[citation["moment"]]
            assert (citation["start"], citation["quote"]) == (moment.start, moment.quote)
    sources = Sources.of(overview)
    # Dropped: citations of nothing the model was given, as "[item]", and at most one that its token limit cut at the
    # end of the answer ("[18:0"). Which ones a small model writes is its wording; that each was rightly dropped is not.
    cut = [d for d in stored.result["dropped"] if not d.endswith("]")]
    assert len(cut) <= 1 and all(re.fullmatch(r"[\[(][\d\s,;:]*", d) for d in cut)
    for dropped in set(stored.result["dropped"]) - set(cut):
        assert sources.cite(dropped[1:-1]) is None and dropped not in text, dropped

    with TestClient(create_app(capable)) as client:
        page = client.get(f"/episode/{episode_id}").text
        api = client.post(f"/api/episodes/{episode_id}/analyses", json={"what": ["summary"], "words": 40}).json()
    links = re.findall(r'<a class="cite" href="/episode/[^"?]+\?t=(\d+)" data-seek="([\d.]+)"', page)
    assert len(links) == len(markers), "each citation is a link"
    assert all(float(second) in given and int(float(second)) == int(t) for t, second in links)
    assert 'value="summary"' in page and str(escape(KEY_MOMENTS_NOTE)) not in page
    assert api["analyses"][0]["result"] == stored.result
    again = archive.get_analysis(episode_id, "summary", summary.params)
    assert again is not None and again.created_at == stored.created_at, "reused while the transcript is the same"
