"""The command line with only the command it runs: typer builds the options of every
command it holds before it parses a word, and a run needs one."""

from __future__ import annotations

import copy

import typer

ROOT_HELP = ("-h", "--help")
"""The root's help options: its help lists every command."""


def named_command(app: typer.Typer, argv: list[str]) -> typer.Typer:
    """`app` holding only the command `argv` names; `app` itself when it names none
    (`runner`, `runner --help run`, a typo), so every command is there to list or
    suggest. The root's options are all flags: the first word that is not one names
    the command."""
    for word in argv:
        if word in ROOT_HELP:
            break
        if not word.startswith("-"):
            chosen = [command for command in app.registered_commands
                      if command.callback is not None and word == (
                          command.name or command.callback.__name__.replace("_", "-"))]
            if chosen:
                lean = copy.copy(app)
                lean.registered_commands = chosen
                return lean
            break
    return app
