"""Charts of a word's trend, as the command line and the web page draw them: PNG (matplotlib), the terminal's chart
(plotext), CSV, and the points as JSON for the page's own chart. fonoteca.search.trends computes the points."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from fonoteca.output import TrendRowOut, dump
from fonoteca.search.trends import UNITS, TrendPoint, series, summarize

SENTENCE = "This graph shows how many times the word {word} has been mentioned throughout the history of the program"
# Okabe & Ito's eight colours, told apart with every common colour blindness; series 9 and 10 reuse them dashed.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


@cache
def _points_adapter() -> TypeAdapter[list[TrendPoint]]:
    return TypeAdapter(list[TrendPoint])


def points_json(points: list[TrendPoint]) -> str:
    """The points as JSON, as the API sends them: pydantic's serializer, several times faster than json.dumps of
    dicts on the thousands of points of a long history."""
    return _points_adapter().dump_json(points).decode()


# A spreadsheet reads a cell that starts with one of these as a formula: `=HYPERLINK(...)` in an episode's title would
# run when the CSV is opened (OWASP's "CSV injection"); tab and carriage return start one in some of them too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A text cell a spreadsheet shows as written: one that would start a formula gets a leading apostrophe, which
    spreadsheets read as "text follows" and do not show."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def trend_csv(rows: Sequence[TrendRowOut]) -> str:
    """The rows of `trend --json` as the CSV that `trend --csv` prints and the web page downloads, with no cell that
    a spreadsheet would run as a formula."""
    data = [{name: _cell(value) for name, value in row.items()} for row in dump(rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(data[0]) if data else ["term"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return buffer.getvalue()


def chart_title(terms: list[str], per: str = "raw") -> str:
    word = " / ".join(f"“{t}”" for t in terms)
    return SENTENCE.format(word=word) + (f" ({UNITS[per]})" if per != "raw" else "")


def _dated(points: list[TrendPoint]) -> list[tuple[date, TrendPoint]]:
    """The points a time axis can place (an undated one, or one whose date a feed got wrong, is in the data only)."""
    out = []
    for p in points:
        with contextlib.suppress(ValueError, TypeError):
            out.append((date.fromisoformat(p.date), p))
    return out


def render_png(
    points: list[TrendPoint], path: Path, *, per: str = "raw", show_title: str = "", terms: Sequence[str] = ()
) -> None:
    """The chart on a real time axis, one colour-blind-safe line per series, first/peak/latest marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = series(points)
    fig, ax = plt.subplots(figsize=(11, 5), dpi=120)
    for i, (name, pts) in enumerate(grouped.items()):
        dated = _dated(pts)
        own = pts[0].colour if pts else None  # a speaker's, as on the pages
        style = "--" if i >= len(PALETTE) and not own else "-"
        color = own or PALETTE[i % len(PALETTE)]
        ax.plot([d for d, _ in dated], [p.value for _, p in dated], style, marker="o", markersize=3, linewidth=1.5,
                color=color, label=name)  # fmt: skip
        said = [(d, p) for d, p in dated if p.count]
        if said:
            peak = max(said, key=lambda dp: dp[1].value)
            for (day, point), marker in ((said[0], "^"), (said[-1], "s"), (peak, "*")):  # the peak on top
                ax.plot([day], [point.value], marker, color=color, markersize=10, markeredgecolor="white")
    ax.set_ylabel(UNITS[per])
    ax.set_xlabel("date")
    names = list(terms) or list(grouped)
    summaries = "; ".join(f"{s.series}: {s.line(per)}" for s in summarize(points))
    title = chart_title(names, per) + (f" — {show_title}" if show_title else "")
    ax.set_title(title, fontsize=9, wrap=True)
    fig.text(0.01, 0.01, summaries[:300] + " (▲ first, ★ peak, ■ latest)", fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def render_terminal(points: list[TrendPoint], *, per: str = "raw", terms: Sequence[str] = ()) -> str:
    """The chart for the terminal (plotext), on a time axis: days since the first point, ticks labelled by date."""
    import plotext as plt

    grouped = series(points)
    sentence = chart_title(list(terms) or list(grouped), per) + ".\n"
    days = sorted({d for d, _ in _dated(points)})
    if not days:  # episodes without dates (imported transcripts) have no place on a time axis
        return sentence + "No chart: none of these episodes has a date; their counts follow (--json lists them).\n"
    plt.clear_figure()
    plt.theme("clear")
    for name, pts in grouped.items():
        if dated := _dated(pts):  # plotext fails on a series with no point to draw
            x = [(d - days[0]).days for d, _ in dated]
            plt.plot(x, [p.value for _, p in dated], label=name, marker="braille")
    ticks = days[:: max(1, len(days) // 6)]
    plt.xticks([(d - days[0]).days for d in ticks], [d.isoformat() for d in ticks])
    plt.ylabel(UNITS[per])
    plt.plotsize(100, 20)
    # The sentence is printed above the chart: as a plotext title it would be cut to the chart's width.
    return sentence + plt.build()
