"""`{{ name }}` rendering: typed whole values, text inside strings, shell quoting."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from runner.jobfile.template import as_text, compile_value, names_in

VARIABLES = {"i": 3, "s": "it's", "l": [1, "b"], "d": {"k": None}, "n": None, "t": True,
             "f": 1.5, "space": "a b", "evil": "$(touch x); `y` \"z\""}


@pytest.mark.parametrize(("template", "value"), [
    ("{{ i }}", 3), ("{{i}}", 3), ("{{   l  }}", [1, "b"]), ("{{ d }}", {"k": None}),
    ("{{ n }}", None), ("{{ t }}", True), ("{{ f }}", 1.5), ("{{ s }}", "it's"),
])
def test_a_whole_string_template_keeps_the_type(template: str, value: Any) -> None:
    assert compile_value(template)(VARIABLES) == value


@pytest.mark.parametrize(("template", "text"), [
    ("x{{ i }}", "x3"), ("{{ i }}{{ i }}", "33"), ("{{ i }} {{ s }}", "3 it's"),
    ("l={{ l }}", 'l=[1, "b"]'), ("d={{ d }}", 'd={"k": null}'), ("{{ n }}!", "null!"),
    ("{{ t }}/{{ f }}", "true/1.5"), ("{{ i }}-{{ index }}", "3-7"),
])
def test_a_partial_template_renders_text(template: str, text: str) -> None:
    assert compile_value(template)({**VARIABLES, "index": 7}) == text


@pytest.mark.parametrize(("template", "text"), [
    ("{{ i }}", "3"), ("{{ n }}", "null"), ("{{ l }}", '[1, "b"]'), ("{{ s }}", "it's"),
])
def test_text_mode_renders_even_a_whole_template_as_text(template: str, text: str) -> None:
    assert compile_value(template, text=True)(VARIABLES) == text


@pytest.mark.parametrize(("template", "argv"), [
    ("echo {{ s }}", ["echo", "it's"]),
    ("echo {{ space }} {{ i }}", ["echo", "a b", "3"]),
    ("echo {{ evil }}", ["echo", "$(touch x); `y` \"z\""]),
    ("echo {{ l }}", ["echo", '[1, "b"]']),
    ("echo x{{ s }}y", ["echo", "xit'sy"]),
    ("{{ space }}", ["a b"]),
])
def test_shell_strings_get_quoted_values(template: str, argv: list[str]) -> None:
    rendered = compile_value(template, shell=True)(VARIABLES)
    assert isinstance(rendered, str)
    assert shlex.split(rendered) == argv


def test_lists_and_dicts_render_recursively() -> None:
    render = compile_value(["{{ i }}", {"a": "{{ l }}", "b": ["x{{ i }}", 5]}, "plain"])
    assert render(VARIABLES) == [3, {"a": [1, "b"], "b": ["x3", 5]}, "plain"]


def test_shell_quoting_reaches_into_lists() -> None:
    assert compile_value(["sh -c 'x'", "echo {{ s }}"], shell=True)(VARIABLES) == [
        "sh -c 'x'", "echo 'it'\"'\"'s'"]


@pytest.mark.parametrize("value", [
    "plain", "{not a template}", "{{ 1abc }}", 5, None, 1.5, True,
    [1, "a", {"k": "v"}], {"a": [1, 2], "b": "{x}"},
])
def test_constants_are_returned_as_they_are(value: Any) -> None:
    assert compile_value(value)(VARIABLES) is value
    assert compile_value(value, shell=True, text=True)({}) is value


def test_renderers_are_reusable_and_do_not_share_results() -> None:
    render = compile_value(["{{ i }}"])
    first, second = render({"i": 1}), render({"i": 2})
    assert (first, second) == ([1], [2])


def test_names_in_gives_each_name_with_its_sub_path() -> None:
    value = {"a": ["{{ x }}", "k{{y}}{{ z }}"], "b": {"c": "{{ x }}"}, "d": 5}
    assert list(names_in(value)) == [
        (("a", 0), "x"), (("a", 1), "y"), (("a", 1), "z"), (("b", "c"), "x")]


@pytest.mark.parametrize(("value", "text"), [
    ("s", "s"), (1, "1"), (None, "null"), (True, "true"), ([1, "a"], '[1, "a"]'),
])
def test_as_text(value: object, text: str) -> None:
    assert as_text(value) == text
