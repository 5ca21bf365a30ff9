"""The page's view of a job's stages: a legend of its entries, bars coloured by entry,
and one entry picked out (the others faded), so a reader sees a stage's tasks
together across every worker's lane.

The legend's buttons switch the colouring (by entry, by status) and pick an entry;
the page's address keeps both (`#colour=status&entry=2`), so a view can be linked
to. Names are the journal's text: escaped here, reaching the script only as data.
"""

from __future__ import annotations

from html import escape
from typing import Any


def default_colouring(entries: list[dict[str, Any]]) -> str:
    """By entry when the job has stages (several entries, one of them with several
    tasks); else by status, which then says more."""
    staged = len(entries) > 1 and any(entry["tasks"] > 1 for entry in entries)
    return "entry" if staged else "status"


def entry_legend(entries: list[dict[str, Any]]) -> str:
    """Buttons per entry (its colour, name and task count) and the colouring switch;
    nothing for a job of one entry, where colour by status says it all."""
    if len(entries) < 2:
        return ""
    buttons = "".join(
        f'<button type="button" class="entry" data-entry="{i}" aria-pressed="false">'
        f'<i class="chip" style="background:{entry["colour"]}"></i>{escape(entry["entry"])}'
        f' <small>{entry["tasks"]} task(s)</small></button>' for i, entry in enumerate(entries))
    modes = "".join(f'<button type="button" class="mode" data-colour="{mode}" '
                    f'aria-pressed="false">{mode}</button>' for mode in ("entry", "status"))
    return (f'<div class="entries"><span class="what">Colour by</span>{modes}'
            f'<span class="what">Entries (pick one to see its tasks together; a dashed '
            f"outline marks an attempt that did not end ok)</span>{buttons}</div>")


ENTRY_CSS = """
.entries { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 10px 0;
  font-size: 12px; }
.entries .what { color: #5b6673; margin: 0 2px 0 8px; }
.entries button { font: inherit; border: 1px solid #dde3ea; border-radius: 6px;
  background: #fff; padding: 2px 8px; cursor: pointer; }
.entries button[aria-pressed="true"] { border-color: #1d232b; background: #eef2f6; }
.entries small { color: #5b6673; }
.bar.dim { opacity: 0.12; }
.bar.flag { stroke: #111; stroke-width: 1.2; stroke-dasharray: 3 2; }
"""

ENTRY_SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var entries = data.entries, state = {colour: data.colour, only: -1};
  String(location.hash).replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (kv[0] === "colour" && (kv[1] === "entry" || kv[1] === "status")) state.colour = kv[1];
    if (kv[0] === "entry" && entries[Number(kv[1])]) state.only = Number(kv[1]);
  });
  function apply() {
    document.querySelectorAll(".bar").forEach(function (rect) {
      var e = Number(rect.getAttribute("data-entry")), by = state.colour === "entry";
      rect.style.fill = by && entries[e] ? entries[e].colour : "";
      rect.classList.toggle("flag", by && !rect.classList.contains("s-ok"));
      rect.classList.toggle("dim", state.only >= 0 && e !== state.only);
    });
    document.querySelectorAll(".entries .entry").forEach(function (button) {
      var picked = Number(button.getAttribute("data-entry")) === state.only;
      button.setAttribute("aria-pressed", String(picked));
    });
    document.querySelectorAll(".entries .mode").forEach(function (button) {
      var on = button.getAttribute("data-colour") === state.colour;
      button.setAttribute("aria-pressed", String(on));
    });
    var legend = document.querySelector(".legend");
    if (legend) legend.style.display = state.colour === "entry" ? "none" : "";
    document.body.setAttribute("data-colour", state.colour);
    document.body.setAttribute("data-entry", String(state.only));
  }
  document.querySelectorAll(".entries button").forEach(function (button) {
    button.addEventListener("click", function () {
      if (button.classList.contains("mode")) {
        state.colour = button.getAttribute("data-colour");
      } else {
        var e = Number(button.getAttribute("data-entry"));
        state.only = state.only === e ? -1 : e;
      }
      history.replaceState(null, "", "#colour=" + state.colour +
        (state.only >= 0 ? "&entry=" + state.only : ""));
      apply();
    });
  });
  apply();
})();
"""
