"""The steps of jobs/pipeline.yml: prepare a folder, count words, gather the counts."""

from __future__ import annotations

import json
import os


def prepare(folder: str) -> str:
    """Makes the output folder (and a scratch folder the cleanup removes); returns it."""
    os.makedirs(os.path.join(folder, "scratch"), exist_ok=True)
    return folder


def count_words(path: str, shouted: str) -> dict[str, object]:
    """One input's word count, from the upper-cased text the step before produced."""
    return {"file": os.path.basename(path), "words": len(shouted.split()),
            "first": shouted.split("\n", 1)[0]}


def summarise(counts: list[dict[str, object]], folder: str) -> int:
    """Writes every input's count, in plan order, to summary.json; returns the total."""
    with open(os.path.join(folder, "summary.json"), "w") as out:
        json.dump(counts, out, indent=2)
    return sum(int(str(count["words"])) for count in counts)
