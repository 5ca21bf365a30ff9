"""The page in a real browser: every bar drawn, no script error, sync in series.

Debian's headless chromium loads the page from disk and prints the DOM its
script built; the script marks <body> with `data-ok` as its last act and
`data-error` from `window.onerror`, so a script that failed cannot pass.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from runner.report.digest import report_command
from tests.report.conftest import CHROMIUM, Processes
from tests.report.report_journals import JournalWriter

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
        ".ci/run does) to test the page in a browser")),
    pytest.mark.timeout(120),
]
NASTY = "<script>alert(1)</script>"


def browse(processes: Processes, tmp_path: Path, page: Path, *extra: str,
           fragment: str = "") -> str:
    result = processes.run([
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-breakpad", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000", "--window-size=1280,900", *extra, page.as_uri() + fragment,
    ], timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class Dom(HTMLParser):
    """The dumped DOM's body attributes, script count and bars (per timeline svg)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.scripts = 0
        self.runs: list[list[dict[str, str]]] = []
        self._bar: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "body":
            self.body = dict(attrs)
        elif tag == "script":
            self.scripts += 1
        elif tag == "svg":
            self.runs.append([])
        elif tag == "rect" and found.get("class", "").startswith("bar "):
            self._bar = {**found, "title": ""}
            self.runs[-1].append(self._bar)

    def handle_data(self, data: str) -> None:
        if self._bar is not None:
            self._bar["title"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "rect":
            self._bar = None


def demo_journal(journal: JournalWriter) -> Path:
    """A sync run (bars in series) then an async one (overlapping), every status once."""
    journal.job_started(0, run="sync-run", mode="sync")
    for i in range(4):
        journal.attempt(f"sync{i}", i * 0.5, i * 0.5 + 0.5, pid=11 + i % 3)
    journal.job_finished(2.1).job_started(10, run="async-run")
    statuses = ["ok", "failed", "timeout", "crashed", "interrupted", "cancelled"]
    for i, status in enumerate(statuses):
        journal.attempt(f"async{i}", 10 + i // 3 * 0.5, 10.5 + i // 3 * 0.5, pid=21 + i % 3,
                        status=status, attempt=1 + i % 2)
    journal.attempt(NASTY, 10, 10.2, pid=24)
    journal.attempt("never-ran", 11, 11, pid=0, status="cancelled")
    return journal.job_finished(11.1).write()


def test_every_bar_is_drawn_without_a_script_error(
        journal: JournalWriter, tmp_path: Path, processes: Processes,
        capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    report_command(demo_journal(journal), html=page, as_json=True)
    dom = Dom(browse(processes, tmp_path, page, "--dump-dom"))
    assert "data-error" not in dom.body, dom.body
    assert (dom.body.get("data-ok"), dom.body.get("data-bars")) == ("1", "11")
    assert dom.scripts == 3  # the task called <script> stayed text
    sync_bars, async_bars = dom.runs
    assert sorted(bar["title"].split("\n")[0] for bar in sync_bars) == [
        "sync0", "sync1", "sync2", "sync3"]
    assert sorted(bar["title"].split("\n")[0] for bar in async_bars) == sorted(
        [f"async{i}" for i in range(6)] + [NASTY])
    assert {bar["class"] for bar in async_bars} == {
        f"bar s-{status}" for status in ["ok", "failed", "timeout", "crashed", "interrupted",
                                         "cancelled"]}
    nasty = next(bar for bar in async_bars if bar["title"].startswith(NASTY))
    assert nasty["title"].split("\n")[1] == "attempt 1 · 0.200s · ok"
    assert _max_overlap(sync_bars) == 1 and _max_overlap(async_bars) == 4


def test_a_screenshot_is_drawn(journal: JournalWriter, tmp_path: Path, processes: Processes,
                               capsys: pytest.CaptureFixture[str]) -> None:
    page, shot = tmp_path / "page.html", tmp_path / "shot.png"
    report_command(demo_journal(journal), html=page, as_json=True)
    browse(processes, tmp_path, page, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _max_overlap(bars: list[dict[str, str]]) -> int:
    """How many bars cover one horizontal point at most, from their drawn x and width."""
    edges = sorted(edge for bar in bars for edge in (
        (float(bar["x"]), 1), (float(bar["x"]) + float(bar["width"]) - 0.5, -1)))
    running = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak
