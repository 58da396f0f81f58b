"""The front page's word-over-history chart in real headless Chromium (Debian's /usr/bin/chromium via Playwright):
two words per 1,000 words, split by show, a click on a point listing its mentions, and a copied URL drawing the same
chart. Screenshots land in test-artifacts/ (fixtures_browser)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fixtures_browser import CHROMIUM, shot
from fixtures_web import serve_app
from test_trend_graph import add_charlas

from fonoteca.settings import Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


@pytest.fixture
def server(settings: Settings, web_archive: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    ids = add_charlas(settings, web_archive)
    with serve_app(settings) as base:
        yield base, ids


def _drawn(page, *names: str) -> None:
    keys = " && ".join(f"window.fonotecaTrend[{name!r}]" for name in names)
    page.wait_for_function(
        f"window.fonotecaTrend && {keys} && Object.keys(window.fonotecaTrend).length === {len(names)}"
    )


def test_front_page_charts_two_words_per_1000_words_with_the_api_s_numbers(page, server) -> None:
    base, _ = server
    page.goto(f"{base}/")
    page.fill("#trend-word", "IA, streaming")
    _drawn(page, "IA", "streaming")
    page.check("input[name=per][value='1000-words']")
    page.wait_for_function(
        "location.search.includes('per=1000-words') && window.fonotecaTrendValues.IA.some(v => v > 40)"
    )
    api = httpx.get(f"{base}/api/trend", params={"term": "IA, streaming", "per": "1000-words"}).json()
    expected = {term: [p["value"] for p in api if p["term"] == term] for term in ("IA", "streaming")}
    assert page.evaluate("window.fonotecaTrendValues") == expected
    assert page.locator("#trend-chart canvas").count() == 1
    summary = page.inner_text("#trend-summary")
    assert "“IA”: 2 mentions — first said 2024-03-01" in summary and "said in 1 of 5 episodes" in summary
    page.click("details.trend-table summary")
    assert page.locator("#trend-table tbody tr").count() == 5
    assert "/api/trend.csv?" in page.get_attribute("#trend-csv", "href")
    with page.expect_download() as download:
        page.click("#trend-png")
    png = download.value.path().read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    shot(page, "trend-front-page")


def test_split_by_show_draws_one_line_per_show(page, server) -> None:
    base, _ = server
    page.goto(f"{base}/?word=streaming")
    _drawn(page, "streaming")
    page.select_option("#trend-split", "show")
    _drawn(page, "Charlas", "Midulive")
    assert page.evaluate("window.fonotecaTrend") == {"Charlas": [2, 0], "Midulive": [1, 2, 1]}
    assert page.eval_on_selector_all(".u-legend .u-series", "s => s.map(e => e.textContent.trim())") == [
        "Charlas",
        "Midulive",
    ]
    shot(page, "trend-split-by-show")


def test_clicking_a_point_lists_its_mentions_without_leaving_the_page(page, server) -> None:
    base, ids = server
    page.goto(f"{base}/?word=IA,streaming&by=episode")
    _drawn(page, "IA", "streaming")
    address = page.url
    # Where uPlot drew the "Streaming de respuestas" point (2024-03-01) of the word IA.
    x, y = page.evaluate("""() => {
        const u = window.fonotecaTrendPlot, box = u.over.getBoundingClientRect();
        const i = u.data[0].findIndex(t => t === Date.parse('2024-03-01T00:00:00Z') / 1000);
        return [box.left + u.valToPos(u.data[0][i], 'x'), box.top + u.valToPos(u.data[1][i], 'y')];
    }""")
    page.mouse.move(x, y)
    assert "Streaming de respuestas" in page.inner_text("#trend-tip")
    page.mouse.click(x, y)
    page.wait_for_selector("#trend-moments-list li")
    links = page.eval_on_selector_all("#trend-moments-list a", "links => links.map(a => a.getAttribute('href'))")
    assert links == [f"/episode/{ids['stream']}?t={t}" for t in (0, 20, 30)]
    assert "3 moment(s)" in page.inner_text("#trend-moments-title")
    assert page.url == address  # the chart is still there
    # The keyboard reaches the same moments: focus the chart, move to the second point, Enter.
    page.click("#trend-moments-title")
    page.focus("#trend-chart")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('trend-moments-title').textContent.includes('Notas')")
    shot(page, "trend-moments")


def test_the_copied_url_draws_the_same_chart_with_the_same_settings(page, browser, server) -> None:
    base, _ = server
    page.goto(f"{base}/")
    page.fill("#trend-word", '"fellow americans", streaming')
    _drawn(page, "fellow americans", "streaming")
    page.select_option("#trend-by", "week")
    page.check("input[name=per][value='hour']")
    page.fill("#trend-rolling", "2")
    page.press("#trend-rolling", "Enter")
    page.wait_for_function("location.search.includes('rolling=2') && location.search.includes('by=week')")
    drawn = page.evaluate("[window.fonotecaTrend, window.fonotecaTrendValues]")
    address = page.url
    other = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True).new_page()
    other.goto(address)
    _drawn(other, "fellow americans", "streaming")
    assert other.input_value("#trend-word") == '"fellow americans", streaming'
    assert other.input_value("#trend-by") == "week" and other.input_value("#trend-rolling") == "2"
    assert other.is_checked("input[name=per][value='hour']")
    assert other.evaluate("[window.fonotecaTrend, window.fonotecaTrendValues]") == drawn
    assert other.inner_text("#trend-summary") == page.inner_text("#trend-summary")
    other.context.close()


def test_the_chart_draws_under_the_site_s_own_content_security_policy(browser, server) -> None:
    base, _ = server
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # the CSP enforced, unlike `page`
    page = context.new_page()
    refused = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    page.goto(f"{base}/?word=IA")
    page.wait_for_selector("#trend-chart canvas")
    assert "“IA”: 2 mentions" in page.inner_text("#trend-summary")
    assert refused == []
    context.close()
