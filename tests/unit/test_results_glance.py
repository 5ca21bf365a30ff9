"""runner.report.results.glance reads the task, values and `final` of a task_finished
line without parsing the rest; on any line whose layout it does not know it says so
(None) and the line is parsed whole. Checked against json.loads on awkward lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.report.results import glance

AWKWARD = ['plain', 'say "hi"', 'back\\slash', '"values":{"x":1}', 'ünï ☃', 'line\nbreak',
           '\ud800 lone surrogate', '","final":false,"']


def _line(task: str, name: str, values: dict[str, Any], final: bool, **rest: Any) -> bytes:
    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    tail = "".join(f",{dump(k)}:{dump(v)}" for k, v in rest.items())
    text = (f'{{"event":"task_finished","ts":"2026-01-01T00:00:00+00:00","task":{dump(task)},'
            f'"name":{dump(name)},"index":3,"values":{dump(values)},"attempt":2,'
            f'"final":{"true" if final else "false"},"status":"ok"{tail}}}')
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("text", AWKWARD)
@pytest.mark.parametrize("final", [True, False])
def test_glance_agrees_with_a_full_parse(text: str, final: bool) -> None:
    values = {"f": text, "final": True, "values": {"nested": [text]}}
    line = _line(f"t-{{{{ f }}}}[f={text}]", text, values, final,
                 result={"values": text, "final": False}, stdout=text)
    record = json.loads(line.decode("utf-8", "surrogatepass"))
    task, seen, is_final = glance(line) or (b"", {}, None)
    assert json.loads(task.decode("utf-8", "surrogatepass")) == record["task"]
    assert (seen, is_final) == (record["values"], record["final"])


@pytest.mark.parametrize("line", [
    b'{"event":"task_finished","task":"a","ts":"x","name":"a","index":0,"values":{},'
    b'"attempt":1,"final":true}',  # another key order
    b'{"event":"task_finished","ts":"x","task":"a","name":"a","index":0,"values":{"a":',
    b'{"event":"task_finished","ts":"x","task":"a","name":"a","index":0,"values":[1],'
    b'"attempt":1,"final":true}',
    b'{"event":"task_finished","ts":"x","task":"a","name":"a","index":0,"values":{},'
    b'"final":true,"attempt":1}',
    b'{"event":"task_finished","ts":"x","task":"a","name":"a","index":0,"values":{},'
    b'"attempt":1,"final":true,"status":"ok"',  # torn
], ids=["order", "cut-in-values", "values-not-object", "final-first", "torn"])
def test_an_unknown_layout_is_left_to_the_full_parse(line: bytes) -> None:
    assert glance(line) is None
