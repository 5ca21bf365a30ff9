"""The report's view of a job's stages: each task's entry derived from its id and
values, counted per entry in the tables, and drawn in the entry's colour on the page,
where one entry can be picked out (its tasks together, the others faded)."""

from __future__ import annotations

import itertools
import json
from html import escape
from pathlib import Path
from typing import Any

import pytest

from runner.report.digest import report_command
from runner.report.entries import ENTRY_CAP, OTHERS, Entries, colour, entry_of
from runner.report.read import read_journal
from tests.report import test_report_browser as browser
from tests.report.conftest import CHROMIUM, Processes
from tests.report.report_journals import JournalWriter

NASTY = '<b>"x"</b> [a]'


@pytest.mark.parametrize(("task", "values", "entry"), [
    ("prepare", {}, "prepare"),
    ("convert-{{ f }}[f=in/a.jpg]", {"f": "in/a.jpg"}, "convert-{{ f }}"),
    ("t[x]{{ i }}[i=1,v=[1, 2]]", {"i": 1, "v": [1, 2]}, "t[x]{{ i }}"),
    ("t[1]", {}, "t[1]"),  # no foreach: the id is the name, brackets and all
    ("f{{ x }}[x=1.5]", {"x": 1.5}, "f{{ x }}"),
    ("kitty{{ i }}[i=3]", None, "kitty{{ i }}"),  # a journal from before records had values
    ("[odd]", None, "[odd]"),
])
def test_the_entry_is_the_id_without_its_values(task: str, values: Any, entry: str) -> None:
    assert entry_of(task, values) == entry


def test_tallies_are_bounded_and_colours_differ() -> None:
    entries = Entries()
    for i in range(ENTRY_CAP + 5):
        entries.add(f"e{i}", "ok", 1.0, final=True)
    summary = entries.summary()
    assert len(summary) == ENTRY_CAP + 1 and summary[-1]["entry"] == OTHERS
    assert summary[-1]["tasks"] == 5
    colours = [colour(i) for i in range(40)]
    assert all(a != b for a, b in itertools.pairwise(colours))
    assert all(len(c) == 7 and c.startswith("#") for c in colours)


def _pipeline(journal: JournalWriter) -> Path:
    """prepare, then three converts side by side (one fails), then an index."""
    journal.job_started(0, run="pipe")
    journal.attempt("prepare", 0, 1, pid=11, task="prepare", values={})
    for i, f in enumerate(["a.jpg", "b.jpg", "c.jpg"]):
        journal.attempt(f"convert-{f}", 1, 2 + i * 0.2, pid=11 + i, task=f"convert-{{{{ f }}}}"
                        f"[f={f}]", values={"f": f}, status="failed" if i == 1 else "ok")
    journal.attempt("x1", 3, 3.5, pid=12, task=NASTY + "[i=1]",
                    values={"i": 1})
    return journal.job_finished(4, exit_code=1).write()


def test_the_tables_count_tasks_by_entry(journal: JournalWriter,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = _pipeline(journal)
    report_command(path, html=None, as_json=True)
    summary = json.loads(capsys.readouterr().out)
    assert [(e["entry"], e["tasks"], e["counts"]) for e in summary["entries"]] == [
        ("prepare", 1, {"ok": 1}), ("convert-{{ f }}", 3, {"ok": 2, "failed": 1}),
        (NASTY, 1, {"ok": 1})]
    report_command(path, html=None, as_json=False)
    text = capsys.readouterr().out
    table = text[text.index("Tasks by entry"):].splitlines()
    assert table[2].split() == ["prepare", "1", "1", "0", "1", "1.00s"]
    assert table[3].split() == ["convert-{{", "f", "}}", "3", "2", "1", "3", "3.60s"]


def test_a_job_of_one_entry_keeps_the_plain_page(journal: JournalWriter, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    journal.job_started(0)
    for i in range(3):
        journal.attempt(f"t{i}", i, i + 1, pid=11, task=f"t[i={i}]", values={"i": i})
    page = tmp_path / "page.html"
    report_command(journal.job_finished(3).write(), html=page, as_json=True)
    assert 'class="entries"' not in page.read_text()
    assert len(read_journal(journal.path).entries.tallies) == 1


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _fill(bar: dict[str, str]) -> str:
    styles = dict(part.split(":", 1) for part in bar.get("style", "").split(";") if ":" in part)
    return styles.get("fill", "").strip()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
@pytest.mark.timeout(120)
def test_bars_take_their_entry_colour_and_one_entry_is_picked_out(
        journal: JournalWriter, tmp_path: Path, processes: Processes,
        capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    report_command(_pipeline(journal), html=page, as_json=True)
    summary = json.loads(capsys.readouterr().out)
    colours = [_rgb(entry["colour"]) for entry in summary["entries"]]
    assert escape(NASTY) in page.read_text() and NASTY not in page.read_text()

    dom = browser.Dom(browser.browse(processes, tmp_path, page, "--dump-dom"))
    assert "data-error" not in dom.body and dom.body.get("data-ok") == "1", dom.body
    assert dom.body.get("data-colour") == "entry"
    bars = dom.runs[0]
    assert len(bars) == 5
    by_entry = {bar["title"].split("\n")[0]: int(bar["data-entry"]) for bar in bars}
    assert by_entry == {"prepare": 0, "convert-a.jpg": 1, "convert-b.jpg": 1,
                        "convert-c.jpg": 1, "x1": 2}
    assert [_fill(bar) for bar in bars] == [colours[int(bar["data-entry"])] for bar in bars]
    assert len(set(colours)) == 3
    failed = [bar for bar in bars if "s-failed" in bar["class"]]
    assert len(failed) == 1 and "flag" in failed[0]["class"].split()  # status still shows
    assert not any("dim" in bar["class"].split() for bar in bars)

    picked = browser.Dom(browser.browse(processes, tmp_path / "b", page,
                                        "--dump-dom", fragment="#entry=1"))
    assert picked.body.get("data-entry") == "1"
    assert {bar["title"].split("\n")[0] for bar in picked.runs[0]
            if "dim" not in bar["class"].split()} == {"convert-a.jpg", "convert-b.jpg",
                                                      "convert-c.jpg"}

    plain = browser.Dom(browser.browse(processes, tmp_path / "c", page,
                                       "--dump-dom", fragment="#colour=status"))
    assert plain.body.get("data-colour") == "status"
    assert all(_fill(bar) == "" for bar in plain.runs[0])
