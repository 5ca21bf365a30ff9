"""Template values in shell strings, quoted for where they stand, proven by running
`/bin/sh -c` on what renders: every value arrives as the same bytes, and none runs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.jobfile.template import compile_value, shell_problem

HOSTILE = [
    "report 00.txt", "it's", "$HOME", "`touch pwned`", "$(touch pwned)", 'say "hi"',
    "back\\slash", "two\nlines", "", "'", "\\", "\"'\"'", "${x:-y}", "*", "#x", "a;touch pwned",
    "'; touch pwned; '", '"; touch pwned; "', "\\'", "x\\", "$", "!", "~root", "a\tb",
]
# (template, what the shell must print for a value v)
CONTEXTS: list[tuple[str, Callable[[str], str]]] = [
    ('printf "%s|" {{ f }}', lambda v: v),
    ('printf "%s|" "{{ f }}"', lambda v: v),
    ("printf '%s|' '{{ f }}'", lambda v: v),
    ('printf "%s|" "<{{ f }}>"', lambda v: f"<{v}>"),
    ("printf '%s|' '<{{ f }}>'z", lambda v: f"<{v}>z"),
    ("printf '%s|' x{{ f }}y # it's a comment", lambda v: f"x{v}y"),
    ('printf "%s|" "$(printf %s {{ f }})"', lambda v: v.rstrip("\n")),
    ('printf "%s|" "$(printf %s "{{ f }}" | (cat))"', lambda v: v.rstrip("\n")),
    ("printf '%s|' \"{{ f }}\" '{{ f }}' {{ f }}", lambda v: f"{v}|{v}|{v}"),
]


def _sh(command: str, cwd: Path) -> str:
    done = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True,
                          text=True, timeout=10)
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


@pytest.mark.parametrize(("template", "expected"), CONTEXTS, ids=[c[0] for c in CONTEXTS])
def test_every_value_arrives_whole_and_never_runs(template: str,
                                                  expected: Callable[[str], str],
                                                  tmp_path: Path) -> None:
    render = compile_value(template, shell=True)
    for value in HOSTILE:
        assert _sh(render({"f": value}), tmp_path) == expected(value) + "|", value
    assert list(tmp_path.iterdir()) == []


def test_the_gzip_of_the_issue_compresses_a_file_with_a_space(tmp_path: Path) -> None:
    (tmp_path / "report 00.txt").write_text("data\n")
    render = compile_value('gzip -c "{{ f }}" > "{{ f }}.gz"', shell=True)
    _sh(render({"f": "report 00.txt"}), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report 00.txt", "report 00.txt.gz"]


@pytest.mark.parametrize("template", [
    "echo `{{ f }}`", "echo ${x:-{{ f }}}", "echo x # {{ f }}", "cat <<EOF\n{{ f }}\nEOF",
    "echo $(case a in a) {{ f }};; esac)", "echo $(( {{ f }} ))", "echo $'{{ f }}'",
    "echo \"`echo {{ f }}`\"",
])
def test_a_template_where_quoting_cannot_be_sure_is_refused(template: str) -> None:
    problem = shell_problem(template)
    assert problem is not None and problem.startswith("{{ f }} stands ")


@pytest.mark.parametrize("template", [
    "echo ${HOME}/{{ f }}", "echo {{ f }} `date`", "echo '`' {{ f }}",
    "echo \"it's\" {{ f }}", "echo \\' {{ f }}", "echo a#b {{ f }}",
])
def test_constructs_before_or_around_a_template_that_are_understood(template: str) -> None:
    assert shell_problem(template) is None


def test_an_unsafe_template_is_a_validation_error_at_the_command(problems: Callable[..., list[str]]
                                                                 ) -> None:
    found = problems('version: 1\ntasks:\n  - name: t\n    command: "echo `cat {{ i }}`"\n'
                     "    foreach: {i: [a]}\n")
    assert found == ["4:14: tasks[0].command: {{ i }} stands inside backquotes (write $(...) "
                     "instead), where its value cannot be quoted safely; move it out, or write "
                     "the command as a list (command: [...]) to run it without a shell"]
