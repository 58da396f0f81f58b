"""Two archives in one data folder (`--db a.db`, `--db b.db`) each keep their own search index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>{title}</title>
<item><title>{title} 1</title><guid>{title}-1</guid><pubDate>Mon, 15 Jan 2024 10:00:00 GMT</pubDate>
<description>{text}</description></item>
</channel></rss>
"""


def _fonoteca(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FONOTECA_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_syncing_a_second_archive_in_the_same_home_keeps_the_first_archives_search(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "a.xml").write_text(FEED.format(title="Alpha", text="Ask what you can do for your country."))
    (tmp_path / "b.xml").write_text(FEED.format(title="Beta", text="Una charla sobre streaming y chunked."))
    a_db, b_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")

    for db, feed in ((a_db, "a.xml"), (b_db, "b.xml")):
        added = _fonoteca(home, "--db", db, "add", str(tmp_path / feed))
        assert added.returncode == 0, added.stderr

    found_a = _fonoteca(home, "--db", a_db, "search", "country", "--json")
    assert found_a.returncode == 0, found_a.stderr
    assert '"Alpha 1"' in found_a.stdout, "b's sync must not delete a's documents from the index"
    assert _fonoteca(home, "--db", b_db, "search", "country", "--json").stdout.strip() == "[]"
    assert (tmp_path / "a.index").is_dir() and (tmp_path / "b.index").is_dir()
