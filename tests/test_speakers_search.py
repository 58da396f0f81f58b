"""Who said it, used: search filtered by speaker (CLI, API, page, MCP), hits that say who said them, the graph split by
speaker and filtered by one, speaking time per speaker, and the chat's excerpts naming the speaker. The archive is
made of transcripts imported with speakers (the spec's real SRT, and WebVTT files written here with known counts)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.cli import app as cli
from fonoteca.ingest.transcripts import read_transcript
from fonoteca.llm.chat import sources
from fonoteca.llm.server import free_port
from fonoteca.output.charts import render_png
from fonoteca.output.speakers import OTHERS_COLOUR, SPEAKER_COLOURS, speaker_colour, speaker_colours
from fonoteca.search.trends import OTHERS, BadTrend
from fonoteca.settings import Settings
from fonoteca.web.app import create_app


def _vtt(*cues: tuple[float, str | None, str]) -> str:
    body = "".join(
        f"00:00:{start:06.3f} --> 00:00:{start + 4:06.3f}\n" + (f"<v {voice}>" if voice else "") + f"{text}\n\n"
        for start, voice, text in cues
    )
    return "WEBVTT\n\n" + body


@pytest.fixture
def talk(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return make_talk(settings, tmp_path)


def make_talk(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """A show of three dated episodes: "streaming" said 3 times by Ana (twice in one line), 3 by Luis, once by Beto
    and once in an episode whose transcript names nobody; and the spec's real SRT (Travis, Sarah, Gilon)."""
    folder = tmp_path / "charlas"
    folder.mkdir()
    (folder / "2024-01-10 uno.vtt").write_text(_vtt(
        (0, "Ana", "Hoy hablamos de streaming, streaming de verdad."),
        (4, "Luis", "El streaming me encanta."),
        (8, None, "Y el streaming en directo también."),  # still Luis: a voice carries to the cues after it
        (12, "Ana", "Pues el streaming cansa."),
    ))  # fmt: skip
    (folder / "2024-02-10 dos.vtt").write_text(_vtt(
        (0, "Luis", "Vuelve el streaming."), (4, "Beto", "¿Streaming otra vez?"), (8, "Ana", "Sin parar."),
    ))  # fmt: skip
    (folder / "2024-03-01 tres.vtt").write_text(_vtt((0, None, "Un episodio sin voces sobre streaming.")))
    (folder / "2024-04-01 podcasting.srt").write_bytes(
        shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.srt").read_bytes()
    )
    with Fonoteca(settings) as app:
        report = app.import_transcripts([folder])
        ids = {Path(f.path).stem.split(" ", 1)[1]: f.episode_id for f in report.files}
        ids["show"] = app.archive.list_shows()[0].slug
        app.update_index()
    return ids


def test_search_by_speaker_finds_only_their_lines_and_every_hit_says_who(settings, talk) -> None:
    with Fonoteca(settings) as app:
        everyone = app.search("streaming", limit=50)
        assert {h.speaker for h in everyone.hits} == {"Ana", "Luis", "Beto", None}
        ana = app.search("streaming", speaker="ana", limit=50)  # any case
        assert ana.total == 2 and {h.speaker for h in ana.hits} == {"Ana"}
        luis = app.search("streaming", speaker="LUIS", limit=50)
        assert sorted(h.start for h in luis.hits) == [0.0, 4.0, 8.0]  # the cue without a voice of its own too
        assert app.search("streaming", speaker="Nadie").total == 0
        assert all(h.speaker == "Sarah" for h in app.search("podcast", speaker="sarah", limit=50).hits)


def _clock(seconds: float) -> str:
    return f"00:{int(seconds // 60):02d}:{seconds % 60:06.3f}"


def test_a_search_by_meaning_for_one_speaker_ranks_the_passages_they_say_most_of(settings, tmp_path) -> None:
    """Five passages of 30 s (six cues of 5 s each) of real Talk Python speech given to two voices: two Michael's, two
    Sarah's, and one where Sarah says four cues and Michael two. A speaker's search by meaning ranks exactly the
    passages whose main voice is theirs, in the order the unfiltered search gives them; hybrid search keeps their
    lines and their passages."""
    files = sorted(shared_path("transcripts", "talkpython_en_vtt_subset").glob("*.vtt"))[:2]
    michael, sarah = (
        [s.text for s in read_transcript(path.read_bytes(), path.name).segments if 40 <= len(s.text) <= 150][:16]
        for path in files
    )
    said = (
        [("Michael", t) for t in michael[:12]]
        + [("Sarah", t) for t in sarah[:16]]
        + [("Michael", t) for t in michael[12:14]]
    )
    cues = "".join(
        f"{_clock(i * 5.0)} --> {_clock(i * 5.0 + 5)}\n<v {voice}>{html.escape(text)}\n\n"
        for i, (voice, text) in enumerate(said)
    )
    (tmp_path / "charla.vtt").write_text("WEBVTT\n\n" + cues, encoding="utf-8")
    main_voice = {0.0: "Michael", 30.0: "Michael", 60.0: "Sarah", 90.0: "Sarah", 120.0: "Sarah"}
    with Fonoteca(settings) as app:
        app.import_transcripts([tmp_path / "charla.vtt"])
        app.embed()
        every = app.search("building web apps with python", mode="meaning", limit=50)
        assert every.mode == "meaning" and sorted(h.start for h in every.hits) == sorted(main_voice)
        for name in ("Michael", "sarah"):
            theirs = app.search("building web apps with python", mode="meaning", speaker=name, limit=50)
            assert theirs.mode == "meaning" and not theirs.note
            assert [h.start for h in theirs.hits] == [
                h.start for h in every.hits if main_voice[h.start].casefold() == name.casefold()
            ]
        hybrid = app.search("python", mode="hybrid", speaker="Michael", limit=50)
        assert hybrid.mode == "hybrid" and hybrid.hits
        for hit in hybrid.hits:
            assert main_voice[hit.start] == "Michael" if hit.matched == "meaning" else hit.speaker == "Michael"


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(cli, ["--home", str(settings.home), *args])


def test_cli_search_speaker_filter_and_hits_name_the_speaker(settings, talk) -> None:
    shown = _cli(settings, "search", "streaming", "--speaker", "Beto")
    assert shown.exit_code == 0, shown.output
    assert "1 match(es)" in shown.output and "Beto: ¿Streaming otra vez?" in shown.output
    data = _cli(settings, "search", "streaming", "--speaker", "luis", "--json")
    assert {hit["speaker"] for hit in json.loads(data.output)} == {"Luis"}


def test_api_and_search_page_filter_by_speaker_and_name_who_said_it(settings, talk) -> None:
    with TestClient(create_app(settings)) as client:
        found = client.get("/api/search", params={"q": "streaming", "speaker": "Ana"}).json()
        assert found["total"] == 2 and {h["speaker"] for h in found["hits"]} == {"Ana"}
        page = client.get("/search", params={"q": "streaming", "speaker": "Beto"}).text
        assert 'name="speaker" value="Beto"' in page and '<span class="speaker"' in page and "Beto" in page
        assert "Luis" not in page.split('id="results"')[-1]


def test_split_by_speaker_draws_the_top_speakers_and_everyone_else(settings, talk) -> None:
    with Fonoteca(settings) as app:
        points = app.trend(["streaming"], split_by="speaker", speakers=2, by="month")
        totals = {}
        for p in points:
            totals[p.series] = totals.get(p.series, 0) + p.count
        # Ana and Luis 3 each (Ana's "streaming, streaming" is two), Beto's one and the unnamed line are the rest.
        assert totals == {"Ana": 3, "Luis": 3, OTHERS: 2}
        assert sum(totals.values()) == sum(p.count for p in app.trend(["streaming"], by="month"))
        every = app.trend(["streaming"], split_by="speaker")
        assert {p.series for p in every} == {"Ana", "Luis", "Beto", OTHERS}
        only = app.trend(["streaming"], speaker="luis")
        assert [(p.date, p.count) for p in only if p.count] == [("2024-01-10", 2), ("2024-02-10", 1)]
        with pytest.raises(BadTrend):
            app.trend(["streaming", "directo"], split_by="speaker")


def test_split_by_speaker_draws_each_speaker_in_the_colour_the_show_page_gives_them(settings, talk, tmp_path) -> None:
    import matplotlib.image

    with TestClient(create_app(settings)) as client:
        page = client.get(f"/show/{talk['show']}").text.split('data-testid="speakers"')[1].split("</ul>")[0]
        legend = re.findall(r'style="--speaker:(#\w+)" data-speaker="([^"]+)"', page)
        on_page = {name: colour for colour, name in legend}
        assert {"Ana", "Luis", "Beto", "Travis"} <= set(on_page)
        drawn = client.get("/api/trend", params={"term": "streaming", "split": "speaker", "show": talk["show"]}).json()
        lines = {p["series"]: p["colour"] for p in drawn}
        assert lines == {"Ana": on_page["Ana"], "Luis": on_page["Luis"], "Beto": on_page["Beto"], OTHERS: OTHERS_COLOUR}
        everywhere = client.get("/api/trend", params={"term": "streaming", "split": "speaker"}).json()
        assert {p["series"]: p["colour"] for p in everywhere} == lines  # the one show's speakers, the same colours
        assert all(p["colour"] is None for p in client.get("/api/trend", params={"term": "streaming"}).json())
    with Fonoteca(settings) as app:
        points = app.trend(["streaming"], split_by="speaker", show=talk["show"], by="month")
    render_png(points, tmp_path / "trend.png", terms=["streaming"])
    pixels = (matplotlib.image.imread(tmp_path / "trend.png")[..., :3] * 255).round().astype(int).reshape(-1, 3)
    drawn_colours = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.unique(pixels, axis=0)}
    assert set(lines.values()) <= drawn_colours  # the PNG's lines too (`fonoteca trend --png`)


def test_a_speakers_mentions_per_1000_words_and_per_hour_are_of_their_own_words_and_time(settings, talk) -> None:
    with Fonoteca(settings) as app:
        per_words = app.trend(["streaming"], split_by="speaker", speakers=2, per="1000-words")
        values = {(p.series, p.episode_id): (p.value, p.words) for p in per_words if p.count}
        # Ana says 11 words in "uno" (3 mentions), Luis 10 (2); in "dos" everyone else (Beto) says 3 of its 8 words.
        assert values == {
            ("Ana", talk["uno"]): (round(3000 / 11, 3), 11),
            ("Luis", talk["uno"]): (200.0, 10),
            ("Luis", talk["dos"]): (round(1000 / 3, 3), 3),
            (OTHERS, talk["dos"]): (round(1000 / 3, 3), 3),
            (OTHERS, talk["tres"]): (round(1000 / 6, 3), 6),
        }
        per_hour = app.trend(["streaming"], split_by="speaker", per="hour")
        assert next(p.value for p in per_hour if p.series == "Ana" and p.count) == 1350.0  # 3 in her 8 seconds
        luis = app.trend(["streaming"], speaker="luis", per="1000-words")
        assert [(p.value, p.words) for p in luis if p.count] == [(200.0, 10), (round(1000 / 3, 3), 3)]


def test_a_phrase_split_by_speaker_counts_each_mention_once(settings, talk) -> None:
    with Fonoteca(settings) as app:
        points = app.trend(["el streaming"], split_by="speaker", by="year")
        assert {p.series: p.count for p in points if p.count} == {"Luis": 3, "Ana": 1}


def test_cli_and_api_trend_split_by_speaker(settings, talk) -> None:
    rows = json.loads(_cli(settings, "trend", "streaming", "--split-by", "speaker", "--by", "year", "--json").output)
    assert {(r["speaker"], r["count"]) for r in rows} == {("Ana", 3), ("Luis", 3), ("Beto", 1), (OTHERS, 1)}
    with TestClient(create_app(settings)) as client:
        points = client.get("/api/trend", params={"term": "streaming", "split": "speaker", "by": "year"}).json()
        assert {p["series"] for p in points} == {"Ana", "Luis", "Beto", OTHERS}
        only = client.get("/api/trend", params={"term": "streaming", "speaker": "Ana", "by": "year"}).json()
        assert [p["count"] for p in only] == [3]
        moments = client.get(
            "/api/trend/moments", params={"term": "streaming", "key": talk["uno"], "speaker": "Luis"}
        ).json()
        assert [h["start"] for h in moments["hits"]] == [4.0, 8.0]


def test_speaking_time_per_speaker_of_an_episode_and_of_a_show(settings, talk) -> None:
    with Fonoteca(settings) as app:
        assert app.archive.speaking_time(talk["uno"]) == [("Ana", 8.0, 1), ("Luis", 8.0, 1)]
        show = {name: (round(seconds, 3), n) for name, seconds, n in app.speaking_time(talk["show"])}
        assert show["Ana"] == (12.0, 2) and show["Luis"] == (12.0, 2) and show["Beto"] == (4.0, 1)
        assert show["Travis"][1] == 1 and set(show) == {"Ana", "Luis", "Beto", "Travis", "Sarah", "Gilon"}
        # The index's sums are the archive's, episode by episode.
        for name, seconds, _n in app.speaking_time(talk["show"]):
            by_episode = [dict((s, t) for s, t, _ in app.archive.speaking_time(e)).get(name, 0.0) for e in talk.values()
                          if e != talk["show"]]  # fmt: skip
            assert seconds == pytest.approx(sum(by_episode))


def test_the_chat_s_excerpts_tell_the_model_who_said_each_line(settings, talk) -> None:
    """The prompt plumbing only: what the model is given, never what it writes (no server is asked here)."""
    settings = settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with Fonoteca(settings) as app:
        turn = app.chat_turn("¿Quién habló del streaming en directo?")
        asyncio.run(turn.prepare())
    said = next(e for e in turn.excerpts if "directo" in e.text)
    assert said.speaker == "Luis"
    question = turn.prompt[-1]["content"]
    said_by = f'[{said.n}] charlas — «uno», 2024-01-10, at 0:08, Luis says:\n"""Y el streaming en directo también."""'
    assert said_by in question
    nobody = next(e for e in turn.excerpts if e.episode_id == talk["tres"])
    assert nobody.speaker is None and f"[{nobody.n}] charlas — «tres», 2024-03-01, at 0:00:\n" in question
    assert {"speaker": "Luis"}.items() <= next(s for s in sources(turn.excerpts, []) if s["n"] == said.n).items()


def _contrast(colour: str, background: str) -> float:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(colour), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_speaker_colour_is_readable_text_on_the_pages_and_stable_per_name() -> None:
    css = (Path(__file__).parent.parent / "src/fonoteca/web/static/style.css").read_text()
    found = [re.search(rf"--{name}: #([0-9a-f]{{6}}|[0-9a-f]{{3}});", css).group(1) for name in ("bg", "card")]
    backgrounds = ["#" + (code if len(code) == 6 else "".join(c * 2 for c in code)) for code in found]
    assert all(_contrast(c, bg) >= 4.5 for c in SPEAKER_COLOURS for bg in backgrounds)  # WCAG AA for text
    assert speaker_colour("Ana") == speaker_colour(" ana ")  # the label's own colour, on every page
    five = speaker_colours(["Ana", "Luis", "Beto", "Travis", "Sarah"])
    assert len(set(five.values())) == 5 and five["Ana"] == speaker_colour("Ana")  # the main voice keeps its own


def test_episode_page_shows_turns_colours_a_legend_and_speaking_time_and_the_show_page_its_speakers(
    settings, talk
) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get(f"/episode/{talk['uno']}").text
        colours = speaker_colours(["Ana", "Luis"])
        legend = page.split('data-testid="speakers"')[1].split("</ul>")[0]
        assert legend.index("Ana") < legend.index("Luis") and ">8s · 50%<" in legend
        assert f'data-speaker="Luis" style="--speaker:{colours["Luis"]}"' in page
        lines = re.findall(r'<p class="line([^"]*)"[^>]*data-speaker="(\w+)"', page)
        assert lines == [
            (" voiced turn", "Ana"),
            (" voiced turn", "Luis"),
            (" voiced", "Luis"),
            (" voiced turn", "Ana"),
        ]
        assert "now-speaking" not in page  # no player: an imported transcript without media
        plain = client.get(f"/episode/{talk['tres']}").text
        assert 'data-testid="speakers"' not in plain and "data-speaker" not in plain
        show = client.get(f"/show/{talk['show']}").text
        speakers = show.split('data-testid="speakers"')[1].split("</ul>")[0]
        assert "Travis" in speakers and "2 episodes" in speakers and "1 episode<" in speakers


def test_an_index_of_the_layout_before_speakers_is_rebuilt_with_them_when_opened(settings, talk) -> None:
    """An index made before speakers were indexed (layout 6) is thrown away and rebuilt from the archive by the next
    command: the filter then finds the speaker's lines at once, without `fonoteca reindex`."""
    index = settings.home / "fonoteca.index"
    (index / "fonoteca-schema").write_text("6")
    with Fonoteca(settings, catch_up_index=True) as app:  # as a command opens it
        found = app.search("streaming", speaker="Beto")
        assert (found.total, found.hits[0].speaker) == (1, "Beto")
    assert (index / "fonoteca-schema").read_text() != "6"


def test_the_mcp_search_tool_filters_by_speaker_and_says_who_said_each_hit(settings, talk) -> None:
    from mcp import Client

    from fonoteca.mcp_server import build_server

    async def search() -> dict:
        with Fonoteca(settings) as app:
            async with Client(build_server(app, links_base="http://127.0.0.1:8000")) as client:
                found = await client.call_tool("search", {"query": "streaming", "speaker": "luis", "mode": "keyword"})
                return found.structured_content

    found = asyncio.run(search())
    assert found["total"] == 3 and {hit["speaker"] for hit in found["hits"]} == {"Luis"}
