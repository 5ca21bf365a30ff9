"""The engine's event loop, on real pipes: a callback of one round that closes a later
descriptor, whose number a new registration then reuses, must not hand the old event
to the new callback (a command's exit callback would kill the wrong command)."""

from __future__ import annotations

import os

from runner.system.loop import Loop


def test_a_reused_descriptor_does_not_get_the_old_event() -> None:
    loop = Loop()
    pipes = {name: os.pipe() for name in ("first", "second")}
    for _, write in pipes.values():
        os.write(write, b"x")
    calls: list[str] = []
    opened: list[int] = []

    def on_ready(name: str, other: str) -> None:
        calls.append(name)
        os.read(pipes[name][0], 1)
        closing = pipes[other][0]
        loop.remove_reader(closing)
        os.close(closing)
        reused, write = os.pipe()  # the lowest free number: the one just closed
        opened.extend((reused, write))
        assert reused == closing
        loop.add_reader(reused, lambda: calls.append("new"))

    loop.add_reader(pipes["first"][0], lambda: on_ready("first", "second"))
    loop.add_reader(pipes["second"][0], lambda: on_ready("second", "first"))
    loop.run_once(1.0)
    assert calls in (["first"], ["second"])
    loop.run_once(0.05)  # the new pipe has nothing to read
    assert len(calls) == 1
    survivor = pipes[calls[0]][0]
    loop.close()
    for fd in (survivor, *opened, *(write for _, write in pipes.values())):
        os.close(fd)
