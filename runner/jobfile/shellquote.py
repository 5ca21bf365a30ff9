"""Where a template stands in a shell string, and how to quote a value there.

Flow: spec (a `command:` string) -> **shellquote** (the quoting of each
`{{ name }}`) -> template (rendering) -> plan.

A value put into a `/bin/sh -c` string must stay one piece of data whatever it
holds (spaces, quotes, `$`, backquotes, newlines), and how to write it so
depends on the quotes around the template: bare, a value becomes one word
(`'...'`); inside `"..."` it keeps `"`, `\\`, `$` and backquotes escaped; inside
`'...'` it closes the quote, writes each `'` as `'\\''`, and reopens. A small
lexer reads the literal text between the templates once per entry to tell
which. Where the lexer cannot be sure of the context (backquotes, `${...}`
with a word in it, `$((`, `$'...'`, a comment, a here-document, `case` inside
`$(...)`), a template is refused when the file is checked: a wrong guess
there could let a value run as code.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence

Quoter = Callable[[str], str]

_SIMPLE_PARAMETER = re.compile(r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[#?@*!$-])\}")
_BOUNDARY = frozenset(" \t\n;&|()<>")
_BARE, _DOUBLE, _SINGLE = "bare", "double", "single"


def quote_double(value: str) -> str:
    """A value inside `"..."`: the four characters the shell still reads there, escaped."""
    return re.sub(r'([\\"$`])', r"\\\1", value)


def quote_single(value: str) -> str:
    """A value inside `'...'`: each `'` closes the quote, is escaped, and reopens it."""
    return value.replace("'", "'\\''")


_QUOTERS: dict[str, Quoter] = {_BARE: shlex.quote, _DOUBLE: quote_double, _SINGLE: quote_single}


class UnsafeContext(ValueError):
    """A template stands where its value cannot be quoted with certainty."""


def quoters(literals: Sequence[str], names: Sequence[str]) -> list[Quoter]:
    """How to quote the value of each template (`names[k]` stands between `literals[k]`
    and `literals[k + 1]`); raises `UnsafeContext` for the first one it cannot place."""
    lexer = _Lexer()
    found: list[Quoter] = []
    for literal, name in zip(literals, names):
        lexer.feed(literal)
        if lexer.blocked is not None:
            raise UnsafeContext(f"{{{{ {name} }}}} stands {lexer.blocked}, where its value "
                                "cannot be quoted safely; move it out, or write the "
                                "command as a list (command: [...]) to run it without a "
                                "shell")
        found.append(_QUOTERS[lexer.stack[-1].kind])
        lexer.previous = "x"  # the value is part of a word: a `#` right after it is text
    return found


class _Frame:
    """A quote or a `$(...)` the lexer is inside, with the parentheses open in it."""

    __slots__ = ("depth", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.depth = 0


class _Lexer:
    """POSIX sh quoting, as far as a template's context needs: a stack of quote and
    `$(...)` frames (each with its count of open parentheses), and the first construct
    it does not model, after which it places nothing."""

    def __init__(self) -> None:
        self.stack = [_Frame(_BARE)]
        self.blocked: str | None = None
        self.comment = False
        self.previous = " "

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text) and self.blocked is None:
            i = self._step(text, i)
        if self.comment and self.blocked is None:
            self.blocked = "in a comment"

    def _step(self, text: str, i: int) -> int:
        char = text[i]
        if self.comment:
            self.comment = char != "\n"
            return i + 1
        kind = self.stack[-1].kind
        if kind == _SINGLE:
            if char == "'":
                self.stack.pop()
            return i + 1
        if char == "\\":
            self.previous = "\\"
            return i + 2
        if char == "`":
            return self._block("inside backquotes (write $(...) instead)", i)
        if char == "$":
            return self._dollar(text, i)
        if kind == _DOUBLE:
            if char == '"':
                self.stack.pop()
            return i + 1
        return self._bare(text, i)

    def _dollar(self, text: str, i: int) -> int:
        rest = text[i:i + 3]
        if rest.startswith("$(("):
            return self._block("inside $((...))", i)
        if rest.startswith("$("):
            self.stack.append(_Frame(_BARE))
            self.previous = "("
            return i + 2
        if rest.startswith("${"):
            simple = _SIMPLE_PARAMETER.match(text, i)
            return simple.end() if simple else self._block("inside ${...}", i)
        if rest.startswith("$'") and self.stack[-1].kind == _BARE:
            return self._block("inside $'...'", i)
        return i + 1

    def _bare(self, text: str, i: int) -> int:
        char, frame = text[i], self.stack[-1]
        at_word_start = self.previous in _BOUNDARY
        self.previous = char
        if char == "'":
            self.stack.append(_Frame(_SINGLE))
        elif char == '"':
            self.stack.append(_Frame(_DOUBLE))
        elif char == "#" and at_word_start:
            self.comment = True
        elif text.startswith("<<", i):
            return self._block("in a here-document", i)
        elif len(self.stack) > 1 and char in "()":
            return self._parenthesis(char, frame, i)
        elif len(self.stack) > 1 and at_word_start and re.match(r"case\b", text[i:i + 5]):
            return self._block("in a case inside $(...)", i)
        return i + 1

    def _parenthesis(self, char: str, frame: _Frame, i: int) -> int:
        if char == "(":
            frame.depth += 1
        elif frame.depth:
            frame.depth -= 1
        else:
            self.stack.pop()
            self.previous = "x"
        return i + 1

    def _block(self, where: str, i: int) -> int:
        """Places nothing from here on: `feed` stops at once."""
        self.blocked = where
        return i
