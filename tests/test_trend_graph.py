"""The word-over-history graph on a real archive and index: normalisations, time grouping, split by show, the API,
its CSV, the mentions behind a point, the front page and the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from fixtures_web import STREAM_LINES
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment, migrations
from fonoteca.cli import app
from fonoteca.search.trends import MAX_TERMS, BadTrend, parse_terms, summarize
from fonoteca.settings import Settings
from fonoteca.text import words
from fonoteca.web.app import create_app

CHARLAS = [  # a second show: its first episode is in the same ISO week as "Ask not" (2024-W03)
    ("c1", "2024-01-17T10:00:00Z", ["Hablamos de streaming y de streaming otra vez."]),
    ("c2", "2024-02-20T10:00:00Z", ["Nada que ver, ¿sí, claro?"]),
]


def add_charlas(settings: Settings, web_archive: dict[str, str]) -> dict[str, str]:
    """A second show, Charlas, beside the web archive's Midulive (2024-01-15, 2024-03-01, 2024-05-02); all the ids."""
    ids = dict(web_archive)
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Charlas", source="https://example.org/charlas.xml", source_kind="feed")
        ids["charlas"] = show.slug
        for guid, published, lines in CHARLAS:
            episode, _ = archive.upsert_episode(
                show, guid=guid, title=guid.upper(), kind="audio", published=published, duration=1800.0,
                status="done", source="transcribed",
            )  # fmt: skip
            archive.append_segments(episode.id, [Segment(i * 5.0, i * 5.0 + 5, t) for i, t in enumerate(lines)])
            ids[guid] = episode.id
        Fonoteca(settings, archive=archive).update_index()
    return ids


@pytest.fixture
def two_shows(settings: Settings, web_archive: dict[str, str]) -> dict[str, str]:
    return add_charlas(settings, web_archive)


@pytest.fixture
def client(settings: Settings, two_shows: dict[str, str]) -> TestClient:
    return TestClient(create_app(settings))


def _trend(settings: Settings, terms: list[str], **options):
    with Fonoteca(settings) as fonoteca:
        return fonoteca.trend(terms, **options)


def test_each_episode_s_word_total_is_stored_when_indexed(settings, two_shows) -> None:
    with Archive(settings.db_path) as archive:
        said = {e.id: e.words for e in archive.timeline()}
    assert said[two_shows["stream"]] == len(words(" ".join(STREAM_LINES))) == 41
    assert said[two_shows["c1"]] == 8


def test_an_archive_indexed_before_word_totals_gets_them_when_opened_without_reindexing(settings, two_shows) -> None:
    with Archive(settings.db_path) as archive:
        before = {e.id: e.words for e in archive.timeline()}
    # What revision 0014 finds in an archive indexed by an older fonoteca: the schema of 0013 (the later revisions
    # undone by Alembic itself) and no word totals.
    engine = sqlalchemy.create_engine(f"sqlite:///{settings.db_path}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(Path(migrations.__file__).parent))
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
        connection.exec_driver_sql("UPDATE counted SET words = NULL")
    engine.dispose()
    with Archive(settings.db_path) as archive:
        assert {e.id: e.words for e in archive.timeline()} == before  # filled from the stored word counts
        assert Fonoteca(settings, archive=archive).update_index() == 0  # nothing was indexed again


def test_per_1000_words_divides_each_episode_s_mentions_by_its_words(settings, two_shows) -> None:
    points = {p.episode_id: p for p in _trend(settings, ["IA"], per="1000-words")}
    stream = points[two_shows["stream"]]
    assert (stream.count, stream.words, stream.value) == (2, 41, round(2000 / 41, 3))
    assert points[two_shows["jfk"]].value == 0.0
    per_hour = {p.episode_id: p.value for p in _trend(settings, ["IA"], per_hour=True)}
    assert per_hour == {p.episode_id: p.value for p in _trend(settings, ["IA"], per="hour")}
    assert per_hour[two_shows["stream"]] == 2.0


def test_week_grouping_sums_the_episodes_of_each_iso_week_dated_by_its_monday(settings, two_shows) -> None:
    points = _trend(settings, ["streaming"], by="week", per="1000-words")
    assert [(p.key, p.date, p.count, p.episodes, p.mentioned) for p in points] == [
        ("2024-W03", "2024-01-15", 3, 2, 2),  # "Ask not" (Monday) and C1 (Wednesday)
        ("2024-W08", "2024-02-19", 0, 1, 0),
        ("2024-W09", "2024-02-26", 2, 1, 1),
        ("2024-W18", "2024-04-29", 1, 1, 1),
    ]
    assert points[0].words == 23 + 8 and points[0].value == round(3000 / 31, 3)


def test_split_by_show_draws_one_line_per_show_for_a_single_word(settings, two_shows) -> None:
    points = _trend(settings, ["streaming"], split_by="show")
    lines = {}
    for p in points:
        lines.setdefault(p.series, []).append((p.show, p.count))
    assert lines == {
        "Charlas": [(two_shows["charlas"], 2), (two_shows["charlas"], 0)],
        "Midulive": [(two_shows["show"], 1), (two_shows["show"], 2), (two_shows["show"], 1)],
    }
    with pytest.raises(BadTrend, match="one word"):
        _trend(settings, ["streaming", "IA"], split_by="show")


def test_summary_names_the_first_the_peak_and_how_many_episodes_said_it(settings, two_shows) -> None:
    (line,) = summarize(_trend(settings, ["streaming"]))
    assert line.line() == "first said 2024-01-15, peak 2024-01-17 with 2, latest 2024-05-02, said in 4 of 5 episodes"
    (by_month,) = summarize(_trend(settings, ["streaming"], by="month"))
    assert (by_month.first, by_month.peak, by_month.peak_count, by_month.mentioned) == ("2024-01", "2024-01", 3, 4)


def test_words_are_comma_separated_quotes_keep_a_phrase_with_a_comma_and_ten_is_the_most() -> None:
    assert parse_terms(['IA, "sí, claro", streaming', "ia"]) == ["IA", "sí, claro", "streaming"]
    with pytest.raises(BadTrend, match=f"at most {MAX_TERMS}"):
        parse_terms([",".join(f"w{i}" for i in range(MAX_TERMS + 1))])


def test_api_trend_takes_every_setting_of_the_chart(client, two_shows) -> None:
    ten = ", ".join(["streaming", "IA", '"sí, claro"', "medios", "country", "ask", "de", "la", "es", "nada"])
    points = client.get("/api/trend", params={"term": ten, "by": "month", "per": "1000-words"}).json()
    assert len({p["series"] for p in points}) == 10
    ia_march = next(p for p in points if p["term"] == "IA" and p["key"] == "2024-03")
    assert (ia_march["count"], ia_march["words"], ia_march["value"]) == (2, 41, round(2000 / 41, 3))
    split = client.get("/api/trend", params={"term": "streaming", "split": "show", "by": "week"}).json()
    assert {(p["series"], p["key"], p["count"]) for p in split} >= {
        ("Charlas", "2024-W03", 2),
        ("Midulive", "2024-W03", 1),
    }
    too_many = client.get("/api/trend", params={"term": ten + ", otra"})
    assert too_many.status_code == 422 and "at most 10" in too_many.json()["detail"]
    both = client.get("/api/trend", params={"term": "IA, streaming", "split": "show"})
    assert both.status_code == 422 and "single word" in both.json()["detail"]
    assert client.get("/api/trend", params={"term": "IA", "by": "day"}).status_code == 422


def test_csv_download_has_the_api_s_numbers(client) -> None:
    params = {"term": "IA, streaming", "by": "week", "per": "1000-words"}
    points = client.get("/api/trend", params=params).json()
    response = client.get("/api/trend.csv", params=params)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["term"], r["period"], int(r["count"]), int(r["words"]), float(r["per_1000_words"])) for r in rows] == [
        (p["term"], p["key"], p["count"], p["words"], p["value"]) for p in points
    ]


def test_moments_of_a_point_are_its_mentions_with_their_second(client, two_shows) -> None:
    episode = client.get(
        "/api/trend/moments", params={"term": "IA, streaming", "key": two_shows["stream"], "by": "episode"}
    ).json()
    assert episode["total"] == 3
    assert [h["url"] for h in episode["hits"]] == [f"/episode/{two_shows['stream']}?t={t}" for t in (0, 20, 30)]
    assert "<b>IA</b>" in episode["hits"][1]["snippet"]
    week = client.get("/api/trend/moments", params={"term": "streaming", "key": "2024-W03", "by": "week"}).json()
    assert {h["episode_id"] for h in week["hits"]} == {two_shows["jfk"], two_shows["c1"]}
    one_show = {"term": "streaming", "key": "2024-W03", "by": "week", "show": two_shows["charlas"]}
    assert [h["episode_id"] for h in client.get("/api/trend/moments", params=one_show).json()["hits"]] == [
        two_shows["c1"]
    ]
    bad = client.get("/api/trend/moments", params={"term": "IA", "key": "unknown", "by": "month"})
    assert bad.status_code == 422 and "undated" in bad.json()["detail"]


def test_front_page_has_the_stats_header_and_the_chart_as_its_url_says(client) -> None:
    page = client.get("/", params={"word": "IA, streaming", "by": "month", "per": "1000-words", "rolling": "3"}).text
    assert "Transcribed podcasts: 5" in page and "has been mentioned throughout the history of the program" in page
    assert 'value="IA, streaming"' in page and '<option value="month" selected>' in page
    assert 'value="1000-words" checked' in page and 'name="rolling" min="0" max="52" value="3"' in page
    embedded = page.split('<script type="application/json" id="trend-data">')[1].split("</script>")[0]
    assert {(p["term"], p["key"]) for p in json.loads(embedded)} >= {("IA", "2024-03"), ("streaming", "2024-01")}
    by_episode = client.get("/", params={"word": "streaming"}).text
    data = by_episode.split('id="trend-data">')[1].split("</script>")[0]
    assert "Notas \\u003cb\\u003ede" in data and "<b>" not in data  # a title cannot close the data's <script>
    assert "Notas <b>de</b> texto" in [p["title"] for p in json.loads(data)]
    assert "at most 10" in client.get("/", params={"word": ",".join(f"w{i}" for i in range(11))}).text
    gone = client.get("/", params={"word": "IA", "show": "no-such-show"})
    assert gone.status_code == 200 and "no-such-show" in gone.text  # the front page opens, saying why no chart


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), *args])


def test_cli_trend_takes_the_chart_s_options(settings, two_shows) -> None:
    rows = json.loads(_cli(settings, "trend", "IA", "--per", "1000-words", "--json").output)
    stream = next(r for r in rows if r["episode_id"] == two_shows["stream"])
    assert {"words": 41, "per_1000_words": round(2000 / 41, 3)}.items() <= stream.items()
    split = list(csv.DictReader(io.StringIO(_cli(settings, "trend", "streaming", "--split-by", "show", "--by", "week",
                                                 "--csv").output)))  # fmt: skip
    assert [(r["show"], r["period"], r["count"]) for r in split][:2] == [
        (two_shows["charlas"], "2024-W03", "2"),
        (two_shows["charlas"], "2024-W08", "0"),
    ]
    hourly = json.loads(_cli(settings, "trend", "IA", "--per-hour", "--json").output)
    assert next(r for r in hourly if r["episode_id"] == two_shows["stream"])["per_hour"] == 2.0
    chart = _cli(settings, "trend", "streaming, IA", "--by", "month")
    assert chart.exit_code == 0 and "2024-01" in chart.output
    assert "streaming: 6 mention(s) — first said 2024-01" in chart.output
    bad = _cli(settings, "trend", "IA", "streaming", "--split-by", "show")
    assert bad.exit_code == 1 and "single word" in bad.output and "Traceback" not in bad.output


def test_cli_trend_png_is_a_real_image_of_the_chart(settings, two_shows, tmp_path) -> None:
    from PIL import Image

    png = tmp_path / "trend.png"
    result = _cli(settings, "trend", "IA", "streaming", "--by", "week", "--per", "1000-words", "--png", str(png))
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1320, 600)
        assert len(image.convert("RGB").getcolors(1_000_000)) > 50  # lines, markers and text, not a blank canvas
