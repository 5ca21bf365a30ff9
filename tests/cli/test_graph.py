"""`runner graph` as a user runs it: a real process whose output is parsed back, in
both formats, into nodes and labelled edges; a bad file gets `runner validate`'s
errors. Every run is checked for a traceback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RUNNER

JOB = """\
version: 1
name: 'the "site" <build>'
tasks:
  - name: prepare
    call: etl:prepare
  - name: "convert-{{ f }}"
    command: ["convert", "{{ f }}"]
    foreach: {f: {glob: "in/*.jpg"}}
    needs: [prepare]
  - name: "thumb-{{f}}-{{ size }}"
    call: img:thumb
    foreach: {f: {glob: "in/*.jpg"}, size: [64, 128]}
    needs: ["convert-{{f}}"]
  - name: 'index "all" #1 | [x] <b> & `y`'
    call: site:index
    needs: [{task: "thumb-{{ f }}-{{size}}", as: thumbs}]
  - name: "album-{{ f }}"
    call: img:album
    foreach: {f: {glob: "in/*.jpg"}}
    needs: ["thumb-{{ f }}-{{ size }}"]
  - name: cleanup
    command: "rm -rf tmp/"
    needs: ['index "all" #1 | [x] <b> & `y`', prepare]
    if: always
"""
INDEX = 'index "all" #1 | [x] <b> & `y`'
NODES = ["prepare", "convert-{{ f }}", "thumb-{{f}}-{{ size }}", INDEX, "album-{{ f }}",
         "cleanup"]
EDGES = {
    ("prepare", "convert-{{ f }}", "fan-out"),
    ("convert-{{ f }}", "thumb-{{f}}-{{ size }}", "one-to-one: f"),
    ("thumb-{{f}}-{{ size }}", INDEX, "fan-in over f, size; as: thumbs"),
    ("thumb-{{f}}-{{ size }}", "album-{{ f }}", "one-to-one: f; fan-in over size"),
    (INDEX, "cleanup", "if: always"),
    ("prepare", "cleanup", "if: always"),
}

Graph = tuple[list[str], set[tuple[str, str, str]]]


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([RUNNER, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def _mermaid(text: str) -> Graph:
    """Nodes and edges of the flowchart, every line accounted for."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    names: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()
    for line in lines[1:]:
        node = re.fullmatch(r'  (n\d+)\["([^"]*)"\]', line)
        edge = re.fullmatch(r'  (n\d+) -->(?:\|"([^"|]*)"\|)? (n\d+)', line)
        assert node or edge, f"not a node nor an edge: {line!r}"
        if node:
            names[node[1]] = _unmermaid(node[2])
        elif edge:
            edges.add((names[edge[1]], names[edge[3]], _unmermaid(edge[2] or "")))
    return list(names.values()), edges


def _unmermaid(text: str) -> str:
    assert not re.search(r'[<>`]', text), text  # only as entity codes
    return re.sub(r"#(\d+|quot|lt|gt|amp);", lambda m: {
        "quot": '"', "lt": "<", "gt": ">", "amp": "&"}.get(m[1]) or chr(int(m[1])), text)


_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def _dot(text: str) -> Graph:
    lines = text.splitlines()
    title = re.fullmatch(rf"digraph {_DOT_STRING} {{", lines[0])
    assert title, lines[0]
    assert lines[-1] == "}"
    names: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()
    for line in lines[1:-1]:
        node = re.fullmatch(rf"  (n\d+) \[label={_DOT_STRING}\];", line)
        edge = re.fullmatch(rf"  (n\d+) -> (n\d+)(?: \[label={_DOT_STRING}\])?;", line)
        if node:
            names[node[1]] = _undot(node[2])
        elif edge:
            edges.add((names[edge[1]], names[edge[2]], _undot(edge[3] or "")))
        else:
            assert line in ("  rankdir=TB;", "  node [shape=box];"), line
    return list(names.values()), edges


def _undot(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text)


@pytest.mark.parametrize(("option", "parse"), [([], _mermaid), (["--format", "mermaid"], _mermaid),
                                               (["--format", "dot"], _dot)])
def test_fan_out_one_to_one_and_fan_in(tmp_path: Path, option: list[str],
                                       parse: object) -> None:
    (tmp_path / "job.yml").write_text(JOB)
    done = runner("graph", "job.yml", *option, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert callable(parse)
    assert parse(done.stdout) == (NODES, EDGES)
    if parse is _dot:
        assert done.stdout.startswith('digraph "the \\"site\\" <build>" {\n')
    assert not (tmp_path / "in").exists()  # globs are not read to draw the graph


def test_an_entry_without_needs_is_a_lone_node(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("version: 1\ntasks:\n  - {name: a, command: ls}\n"
                                      "  - {name: \"b\\nc\", command: ls}\n")
    assert _mermaid(runner("graph", "job.yml", cwd=tmp_path).stdout) == (["a", "b c"], set())
    assert _dot(runner("graph", "job.yml", "--format", "dot", cwd=tmp_path).stdout) == (
        ["a", "b\nc"], set())


def test_a_bad_file_gets_the_errors_of_validate(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("version: 1\nworkers: true\ntasks:\n  - name: a\n"
                                      "    call: m:f\n    foreach: {f: {glob: 5}}\n")
    validated = runner("validate", "job.yml", cwd=tmp_path)
    for option in ([], ["--format", "dot"]):
        drawn = runner("graph", "job.yml", *option, cwd=tmp_path)
        assert drawn.returncode == validated.returncode == 2
        assert drawn.stdout == ""
        assert drawn.stderr.splitlines() == (validated.stdout + validated.stderr).splitlines()
        assert len(drawn.stderr.splitlines()) == 2


def test_a_need_that_names_no_entry_is_refused(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("version: 1\ntasks:\n  - {name: a, command: ls}\n"
                                      "  - {name: b, command: ls, needs: [c]}\n")
    drawn = runner("graph", "job.yml", cwd=tmp_path)
    assert drawn.returncode == 2 and drawn.stdout == ""
    assert "tasks[1].needs[0]" in drawn.stderr and '"c"' in drawn.stderr


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("version: 1\ntasks:\n  - {name: a, command: ls}\n")
    done = runner("graph", "job.yml", "--format", "svg", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
