"""The web archive through the real app (FastAPI's test client) on a real archive."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from fonoteca.archive import Archive, Segment
from fonoteca.output import EpisodeOut, dump
from fonoteca.settings import Settings
from fonoteca.web.app import create_app


@pytest.fixture
def client(settings: Settings, web_archive: dict[str, str]) -> TestClient:
    return TestClient(create_app(settings))


def test_home_shows_the_seed_header_overall_and_per_show(client) -> None:
    body = client.get("/").text.partition("<body>")[2]  # the head's description and cards say it too
    assert body.count("Transcribed podcasts: 3 · Time transcribed: 0d 1h 0m 11s") == 2


def test_show_page_has_the_seed_sentence_with_a_word_input_and_episode_list(client, web_archive) -> None:
    page = client.get(f"/show/{web_archive['show']}?word=IA").text
    assert "This graph shows how many times the word" in page and "throughout the history of the program" in page
    assert 'id="trend-word" name="word" value="IA"' in page
    assert page.index("Notas &lt;b&gt;de&lt;/b&gt; texto") < page.index("Streaming de respuestas")  # newest first


def test_episode_page_plays_local_media_and_links_every_line_to_its_second(client, web_archive) -> None:
    page = client.get(f"/episode/{web_archive['jfk']}?t=4").text
    assert f'src="/media/{web_archive["jfk"]}"' in page and 'data-start="4.0"' in page
    assert f'href="/episode/{web_archive["jfk"]}?t=3"' in page
    for fmt in ("txt", "srt", "vtt", "json"):
        assert f"/episode/{web_archive['jfk']}/transcript.{fmt}" in page


def test_remote_enclosures_play_from_their_url(client, web_archive) -> None:
    assert 'src="https://example.org/ep2.mp3"' in client.get(f"/episode/{web_archive['stream']}").text


def test_local_media_answers_range_requests_so_seeking_works(client, web_archive) -> None:
    from fixtures_web import DEMO_MEDIA

    whole = (DEMO_MEDIA / "jfk.flac").read_bytes()
    response = client.get(f"/media/{web_archive['jfk']}", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(whole)}"
    assert response.content == whole[1000:2000]


def test_exports_download_each_format(client, web_archive) -> None:
    response = client.get(f"/episode/{web_archive['jfk']}/transcript.srt")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert "00:00:03,200 --> 00:00:07,600" in response.text
    data = client.get(f"/episode/{web_archive['jfk']}/transcript.json").json()
    assert data["version"] == "1.0.0" and data["segments"][0]["startTime"] == 0.0
    assert client.get(f"/episode/{web_archive['jfk']}/transcript.doc").status_code == 404


def test_text_episode_is_shown_as_text_without_a_player(client, web_archive) -> None:
    page = client.get(f"/episode/{web_archive['post']}").text
    assert "<audio" not in page and "Un párrafo sobre streaming" in page


def test_nothing_from_a_feed_or_transcript_is_rendered_as_markup(client, web_archive) -> None:
    page = client.get(f"/episode/{web_archive['post']}").text
    assert "<script>window.__pwned" not in page and "onerror" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    search_page = client.get("/search?q=streaming").text
    assert "<script>alert(1)" not in search_page
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_search_page_pages_and_filters(client, web_archive) -> None:
    page = client.get("/search?q=streaming&from=2024-02-01").text
    assert 'data-testid="total">3 matches' in page  # two lines of one episode, one of another; JFK is too early
    assert f"/episode/{web_archive['stream']}?t=0" in page and f"/episode/{web_archive['jfk']}" not in page
    everything = client.get("/search?q=streaming").text
    assert 'data-testid="total">4 matches' in everything


def test_api_search_returns_hits_with_links_to_the_second(client, web_archive) -> None:
    data = client.get("/api/search", params={"q": "country"}).json()
    assert data["total"] == 2
    hit = data["hits"][0]
    assert {"episode_id", "title", "date", "start", "end", "snippet", "url"} <= set(hit)
    assert hit["url"] == f"/episode/{web_archive['jfk']}?t={int(hit['start'])}" and "<b>country</b>" in hit["snippet"]


def test_api_trend_counts_whole_words_per_episode_in_date_order(client, web_archive) -> None:
    points = client.get("/api/trend", params={"term": "IA", "show": web_archive["show"]}).json()
    assert [(p["title"], p["count"]) for p in points] == [
        ("Ask not", 0),
        ("Streaming de respuestas", 2),
        ("Notas <b>de</b> texto", 0),
    ]


def test_api_stats_shows_and_transcript(client, web_archive) -> None:
    assert client.get("/api/stats").json()["header"] == "Transcribed podcasts: 3 · Time transcribed: 0d 1h 0m 11s"
    shows = client.get("/api/shows").json()
    assert shows[0]["slug"] == web_archive["show"] and shows[0]["episodes"] == 3
    transcript = client.get(f"/api/episodes/{web_archive['jfk']}/transcript").json()
    assert transcript["segments"][1]["text"].startswith("ask not")
    assert client.get("/api/episodes/nope000000/transcript").status_code == 404
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/trend", "/api/stats", "/api/shows"} <= set(schema["paths"])


def test_with_a_token_every_request_needs_it(settings, web_archive) -> None:
    client = TestClient(create_app(settings.replace(token="s3cret")))
    assert client.get("/api/stats").status_code == 401
    assert client.get("/").status_code == 401 and "needs a token" in client.get("/").text
    assert client.get("/api/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    client.post("/login", data={"token": "s3cret", "next": "/"}, follow_redirects=False)
    assert client.get("/").status_code == 200


def test_serving_beyond_loopback_without_a_token_is_refused(settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(settings.home)},
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr and "FONOTECA_TOKEN" in result.stderr


def test_chat_page_can_be_scoped_to_one_episode(client, web_archive) -> None:
    page = client.get(f"/episode/{web_archive['stream']}")
    assert f'href="/chat?episode={web_archive["stream"]}"' in page.text
    scoped = client.get(f"/chat?episode={web_archive['stream']}")
    assert scoped.status_code == 200
    assert f'data-episode="{web_archive["stream"]}"' in scoped.text and "Asking about" in scoped.text
    assert 'data-episode=""' in client.get("/chat").text
    assert client.get("/chat?episode=nope").status_code == 404


def test_a_date_filter_that_is_not_a_date_is_refused_with_a_reason(client) -> None:
    response = client.get("/api/search", params={"q": "streaming", "from": "garbage"})
    assert response.status_code == 422 and "not a date: 'garbage'" in response.json()["detail"]
    page = client.get("/search", params={"q": "streaming", "to": "2024-02-31"})
    assert page.status_code == 422 and "not a date: &#39;2024-02-31&#39;" in page.text


def test_a_month_from_a_chart_click_filters_the_whole_month(client) -> None:
    assert client.get("/api/search", params={"q": "streaming", "from": "2024-03", "to": "2024-03"}).json()["total"] == 2
    page = client.get("/search", params={"q": "streaming", "from": "2024", "to": "2024-03"}).text
    assert 'data-testid="total">3 matches' in page and 'name="from" value="2024"' in page


def test_search_page_keeps_the_episode_filter_and_shows_it_as_a_removable_chip(client, web_archive) -> None:
    page = client.get("/search", params={"q": "streaming", "episode": web_archive["stream"], "show": "midulive"}).text
    assert 'data-testid="total">2 matches' in page
    assert f'<input type="hidden" name="episode" value="{web_archive["stream"]}">' in page
    chip = 'in episode Streaming de respuestas <a href="/search?q=streaming&amp;show=midulive&amp;order=relevance"'
    assert chip in page  # the × link: the same search in every episode
    assert 'name="episode"' not in client.get("/search?q=streaming").text


def test_episode_page_marks_only_lines_with_the_whole_word(client, web_archive) -> None:
    page = client.get(f"/episode/{web_archive['jfk']}", params={"q": "CAN"}).text
    assert page.count('class="line match"') == 2 and "line match" not in page.split("Americans")[0][-400:]
    assert client.get(f"/episode/{web_archive['stream']}?q=IA").text.count('class="line match"') == 2


def test_a_re_transcribed_episode_page_shows_the_new_transcript_not_the_one_it_showed_before(
    client, settings, web_archive
) -> None:
    url = f"/episode/{web_archive['jfk']}"
    assert "Americans" in client.get(url).text and "Americans" in client.get(url).text  # the second from the cache
    with Archive(settings.db_path) as archive:
        archive.replace_transcript(web_archive["jfk"], [Segment(0, 2, "Ich bin <ein> Berliner")], source="publisher")
    page = client.get(url).text
    assert "Ich bin &lt;ein&gt; Berliner" in page and "Americans" not in page


def test_the_episode_page_says_how_many_invented_lines_the_quality_guard_left_out(
    client, settings, web_archive
) -> None:
    url = f"/episode/{web_archive['jfk']}"
    assert "invented lines" not in client.get(url).text
    with Archive(settings.db_path) as archive:
        archive.replace_transcript(
            web_archive["jfk"], [Segment(0, 2, "Ask not")], source="transcribed",
            dropped={"phantom phrase": 2, "repetitive": 1},
        )  # fmt: skip
    assert "3 invented lines left out (phantom phrase: 2, repetitive: 1)" in client.get(url).text


def test_a_deep_link_second_that_is_not_a_number_starts_at_the_beginning(client, web_archive) -> None:
    response = client.get(f"/episode/{web_archive['jfk']}?t=abc")
    assert response.status_code == 200 and 'data-start="0.0"' in response.text


def test_api_page_lists_the_endpoints_without_any_outside_script(client) -> None:
    response = client.get("/api")
    assert response.status_code == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    assert "GET /api/search" in response.text and "GET /api/trend" in response.text
    assert 'href="/openapi.json"' in response.text and "<code>q</code> (query, required)" in response.text
    assert "cdn." not in response.text and 'href="/api"' in client.get("/").text
    assert client.get("/docs").status_code == 404


def test_login_keeps_the_query_string_and_says_when_the_token_is_wrong(settings, web_archive) -> None:
    client = TestClient(create_app(settings.replace(token="s3cret")))
    target = f"/episode/{web_archive['jfk']}?t=30"
    assert f'name="next" value="{target}"' in client.get(target).text.replace("&amp;", "&")
    wrong = client.post("/login", data={"token": "nope", "next": target}, follow_redirects=False)
    assert wrong.status_code == 401 and "wrong token" in wrong.text
    right = client.post("/login", data={"token": "s3cret", "next": target}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == target
    for elsewhere in ("//evil.example/x", "/\\evil.example", "https://evil.example/"):
        response = client.post("/login", data={"token": "s3cret", "next": elsewhere}, follow_redirects=False)
        assert response.headers["location"] == "/"


def test_the_api_answers_with_the_models_json_output_prints(client, settings, web_archive) -> None:
    stats = client.get("/api/stats").json()
    header = "Transcribed podcasts: 3 · Time transcribed: 0d 1h 0m 11s"
    assert stats["shows"] == [
        {"show": web_archive["show"], "title": "Midulive", "episodes": 3, "seconds": 3611.0, "time": "0d 1h 0m 11s",
         "header": header}
    ]  # fmt: skip
    with Archive(settings.db_path) as archive:
        episodes = archive.list_episodes(archive.get_show(web_archive["show"]).id)
    # what `--json` prints, but `media` is what the page's player plays: a path on the server means nothing to a client
    played = [EpisodeOut.of(e).model_copy(update={"media": f"/media/{e.id}"}) for e in episodes]
    expected = [played[0], EpisodeOut.of(episodes[1]), played[2].model_copy(update={"media": None})]
    assert [e.id for e in episodes] == [web_archive[key] for key in ("jfk", "stream", "post")]
    assert client.get(f"/api/shows/{web_archive['show']}/episodes").json() == dump(expected)
    assert "credentials" not in client.get("/api/shows").json()[0]


def test_the_status_page_lists_failed_episodes_with_their_reason_and_says_workers_need_postgresql(
    client: TestClient, settings: Settings
) -> None:
    with Archive(settings.db_path) as archive:
        show = archive.list_shows()[0]
        broken, _ = archive.upsert_episode(show, guid="roto", title="Episodio roto", kind="audio")
        archive.set_status(broken.id, "failed", "the enclosure answered 404 Not Found — check the feed")
    page = client.get("/status")
    assert page.status_code == 200
    assert "Episodio roto" in page.text and "404 Not Found" in page.text
    assert "on SQLite" in page.text and 'data-testid="queues"' not in page.text
    assert '<a href="/status">Status</a>' in client.get("/").text
