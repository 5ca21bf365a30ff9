"""The `--html` page of `runner report`: the summary and a per-worker timeline, one file.

The page is opened from disk, from CI artefacts, on machines without a
network, so it is self-contained: inline CSS and JS, SVG drawn by that JS, no
fonts or scripts fetched from anywhere. Everything taken from the journal
(task names, error messages, hosts) is text the report does not control: the
tables go through `html.escape`, and the timeline's data travels as JSON with
`<`, `>` and `&` written as \\u escapes, reaching the DOM only via `textContent`.

The timeline is the seed's lesson drawn: one lane per worker process and one
bar per attempt, so a `mode: sync` run shows bars one after another and a
`mode: async` run shows them side by side in several lanes at once.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from runner.report.entries import OTHERS
from runner.report.entry_view import ENTRY_CSS, ENTRY_SCRIPT, default_colouring, entry_legend
from runner.report.read import STATUSES, Attempt, Digest
from runner.report.text import Section, finished_tasks, seconds, sections

# Past this many worker processes in a run (commands each have their own, and so do recycled
# workers) lanes hold several processes whose lifetimes do not overlap, so the page stays short.
MAX_LANES = 64
_Bars = list[Attempt]


def render(summary: dict[str, Any], digest: Digest) -> str:
    """The whole page as a string."""
    by_run = digest.bars_by_run()
    cut = digest.bars[-1].run if digest.bars_dropped and digest.bars else None
    entries = {entry["entry"]: i for i, entry in enumerate(summary["entries"])}
    timelines = [_timeline(run_summary, by_run[run.index], run.start, run.index == cut, entries)
                 for run, run_summary in zip(digest.runs, summary["runs"])]
    data = json.dumps({"runs": timelines, "colour": default_colouring(summary["entries"]),
                       "entries": [{"name": entry["entry"], "colour": entry["colour"]}
                                   for entry in summary["entries"]]}, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    jobs = sorted({str(run["job"]) for run in summary["runs"] if run["job"]}) or ["?"]
    body = "\n".join([
        f"<h1>{escape(', '.join(jobs))}: runner report</h1>",
        f'<p class="sub">{escape(summary["journal"])}: {summary["tasks"]} task(s), '
        f'{len(summary["runs"])} run(s), {summary["attempts"]} attempt(s)</p>',
        _cards(summary), _legend(), entry_legend(summary["entries"]), *_runs(summary),
        _truncation(summary),
        *(_table(table) for table in sections(summary) if table.rows),
    ])
    return _PAGE.format(title=escape(f"{', '.join(jobs)}: runner report"), css=_CSS + ENTRY_CSS,
                        body=body, data=data, script=_SCRIPT + ENTRY_SCRIPT)


def _timeline(run: dict[str, Any], bars: _Bars, origin: float, cut: bool,
              entries: dict[str, int]) -> dict[str, Any]:
    """The axis spans the run, or only what is drawn when the bar cap cut this run short."""
    ends = [bar.finished - origin for bar in bars]
    span = max(ends) if cut else max([run["wall"], *ends])
    return {"span": span, "lanes": [_lane(group, origin, entries) for group in _lanes(bars)]}


def _lanes(bars: _Bars) -> list[list[_Bars]]:
    """Each lane is a list of workers, each worker its bars; one worker a lane if they fit."""
    workers: dict[tuple[str, int], _Bars] = {}
    for bar in sorted(bars, key=lambda b: b.started):
        workers.setdefault((bar.host, bar.pid), []).append(bar)
    if len(workers) <= MAX_LANES:
        return [[own] for own in workers.values()]
    lanes: list[list[_Bars]] = []
    ends: list[float] = []
    for own in workers.values():  # in order of first start: first fit packs them tightly
        free = next((i for i, end in enumerate(ends) if end <= own[0].started), None)
        if free is None:
            lanes.append([])
            ends.append(0.0)
            free = len(lanes) - 1
        lanes[free].append(own)
        ends[free] = max(bar.finished for bar in own)
    return lanes


def _lane(workers: list[_Bars], origin: float, entries: dict[str, int]) -> dict[str, Any]:
    first = workers[0][0]
    if len(workers) == 1:
        label, detail = f"pid {first.pid}", f"{first.host} · {first.process_name}"
    else:
        pids = ", ".join(str(own[0].pid) for own in workers[:3])
        more = " …" if len(workers) > 3 else ""
        label, detail = f"{len(workers)} processes", f"pids {pids}{more}"
    drawn = sorted((bar for own in workers for bar in own), key=lambda bar: bar.status != "ok")
    others = entries.get(OTHERS, -1)
    bars = [[round(bar.started - origin, 6), round(bar.finished - origin, 6), bar.status,
             bar.task, bar.attempt, bar.pid, entries.get(bar.entry, others)]
            for bar in drawn]  # failures on top, never hidden
    return {"label": label, "detail": detail[:40], "bars": bars}


def _cards(summary: dict[str, Any]) -> str:
    peak = max((run["max_concurrent"] for run in summary["runs"]), default=0)
    speedup = summary["speedup"]
    cards = [(str(summary["tasks"]), "tasks"),
             *((str(n), status) for status, n in summary["counts"].items() if n),
             (str(summary["retries"]), "retries"), (seconds(summary["wall"]), "wall time"),
             (seconds(summary["task_time"]), "sum of task durations"),
             (f"{speedup:.2f}×" if speedup else "-", "speedup from parallelism"),
             (str(peak), "most attempts at once")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{escape(value)}</b><span>{escape(what)}</span></div>'
        for value, what in cards) + "</div>"


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="chip s-{status}"></i>{status}</span>' for status in STATUSES) + "</div>"


def _runs(summary: dict[str, Any]) -> list[str]:
    parts = []
    for number, run in enumerate(summary["runs"], 1):
        ending = f"exit {run['exit_code']}" if run["finished"] else "no job_finished: unfinished"
        facts = [f"{run['executor'] or '?'}, mode {run['mode'] or '?'}, "
                 f"{run['workers'] or '?'} workers", f"started {run['started'][:19]} UTC",
                 finished_tasks(run),
                 f"wall {seconds(run['wall'])}", f"task time {seconds(run['task_time'])}",
                 f"speedup {run['speedup'] or 0:.2f}×",
                 f"at most {run['max_concurrent']} attempt(s) at once",
                 f"{run['retries']} retries", ending]
        parts += [f"<h2>Run {number}: {escape(str(run['run'] or '?'))} "
                  f"({escape(str(run['job'] or '?'))})</h2>",
                  f'<p class="sub">{escape(" · ".join(facts))}</p>',
                  f'<div class="timeline" data-run="{number - 1}">'
                  "<noscript>The timeline needs JavaScript.</noscript></div>"]
    return parts


def _truncation(summary: dict[str, Any]) -> str:
    timeline = summary["timeline"]
    if not timeline["attempts_not_drawn"]:
        return ""
    return (f'<p class="note">The timeline shows the first {timeline["attempts_drawn"]:,} '
            f'attempts; {timeline["attempts_not_drawn"]:,} more are in the tables and counts '
            "but not drawn.</p>")


def _table(table: Section) -> str:
    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(f'<{tag} class="{how}">{escape(cell)}</{tag}>'
                                for cell, how in zip(cells, table.align)) + "</tr>"

    return (f"<table><caption>{escape(table.title)}</caption><thead>{row(table.headers, 'th')}"
            f"</thead><tbody>{''.join(row(cells, 'td') for cells in table.rows)}</tbody></table>")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
<script>window.onerror = function (message) {{
  document.body.setAttribute("data-error", String(message)); }};</script>
{body}
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body></html>
"""

_CSS = """
:root { --ok: #2f9e5b; --failed: #d9443f; --timeout: #ee8a1a; --crashed: #8e44ad;
  --interrupted: #c9a400; --cancelled: #9aa3ad; color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 24px auto; max-width: 1280px; padding: 0 20px; color: #1d232b; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 2px; }
.sub, .note { color: #5b6673; margin: 2px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #dde3ea; border-radius: 8px; padding: 8px 14px; min-width: 90px; }
.card b { display: block; font-size: 20px; } .card span { color: #5b6673; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 12px; color: #3b4652; }
.chip { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  vertical-align: -2px; margin-right: 5px; }
.timeline { overflow-x: auto; border: 1px solid #e3e8ee; border-radius: 8px; }
svg { display: block; } svg text { font-size: 11px; fill: #5b6673; }
svg .label { font-size: 12px; font-weight: 600; fill: #1d232b; }
svg .grid { stroke: #e3e8ee; } svg .stripe { fill: #f6f8fa; }
svg .name { fill: #fff; font-size: 10px; pointer-events: none; }
.bar { stroke: #fff; stroke-width: 0.6; } .bar:hover { stroke: #111; stroke-width: 1.5; }
.s-ok { fill: var(--ok); background: var(--ok); }
.s-failed { fill: var(--failed); background: var(--failed); }
.s-timeout { fill: var(--timeout); background: var(--timeout); }
.s-crashed { fill: var(--crashed); background: var(--crashed); }
.s-interrupted { fill: var(--interrupted); background: var(--interrupted); }
.s-cancelled { fill: var(--cancelled); background: var(--cancelled); }
.s-skipped { fill: var(--cancelled); background: var(--cancelled); }
table { border-collapse: collapse; margin: 8px 0 18px; font-size: 13px; }
caption { text-align: left; font-weight: 600; font-size: 15px; padding: 6px 0;
  white-space: nowrap; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6eaef; text-align: left;
  vertical-align: top; max-width: 520px; overflow-wrap: anywhere; }
th { background: #f3f5f8; } .r { text-align: right; font-variant-numeric: tabular-nums; }
"""

# Drawn in the browser rather than written as SVG here so the lanes use the window's width.
_SCRIPT = """
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", LABEL = 210, ROW = 24, TOP = 26, RIGHT = 24;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  function add(parent, name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }
  function seconds(t) { return parseFloat(t.toPrecision(4)) + "s"; }
  function tickStep(span, plot) {
    var raw = span / Math.max(1, Math.floor(plot / 90));
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    return [1, 2, 5, 10].map(function (m) { return m * power; })
      .filter(function (step) { return step >= raw; })[0];
  }
  var drawn = 0;
  document.querySelectorAll(".timeline").forEach(function (box) {
    var run = data.runs[Number(box.getAttribute("data-run"))];
    var width = Math.max(box.clientWidth, 640), plot = width - LABEL - RIGHT;
    var span = Math.max(run.span, 0.001), height = TOP + run.lanes.length * ROW + 6;
    var x = function (t) { return LABEL + Math.max(t, 0) / span * plot; };
    var svg = add(box, "svg", {width: width, height: height});
    add(svg, "text", {x: 8, y: 16}, "seconds from the run start");
    var step = tickStep(span, plot);
    for (var t = 0; t <= span * 1.0001; t += step) {
      add(svg, "line", {class: "grid", x1: x(t), x2: x(t), y1: TOP - 6, y2: height});
      add(svg, "text", {x: x(t), y: 16, "text-anchor": "middle"}, seconds(t));
    }
    run.lanes.forEach(function (lane, i) {
      var y = TOP + i * ROW;
      if (i % 2) add(svg, "rect", {class: "stripe", x: 0, y: y, width: width, height: ROW});
      var label = add(svg, "text", {class: "label", x: 8, y: y + 16}, lane.label);
      add(label, "tspan", {dx: 6, class: "detail"}, lane.detail).style.fontWeight = "400";
      lane.bars.forEach(function (bar) {
        var left = x(bar[0]), right = Math.max(x(bar[1]), left + 1);
        var rect = add(svg, "rect", {class: "bar s-" + bar[2], x: left, y: y + 4,
          width: right - left, height: ROW - 8, rx: 2, "data-entry": bar[6]});
        if (right - left < 3) rect.style.stroke = "none";  // the outline would hide the colour
        add(rect, "title", {}, bar[3] + "\\nattempt " + bar[4] + " · " +
          (bar[1] - bar[0]).toFixed(3) + "s · " + bar[2] + "\\npid " + bar[5] + " · " +
          seconds(bar[0]) + " to " + seconds(bar[1]));
        var name = bar[4] > 1 ? bar[3] + " #" + bar[4] : bar[3];
        if ((right - left) > 6.5 * name.length + 8) {
          add(svg, "text", {class: "name", x: left + 4, y: y + ROW / 2 + 3.5}, name);
        }
        drawn += 1;
      });
    });
  });
  document.body.setAttribute("data-bars", String(drawn));
  document.body.setAttribute("data-ok", "1");
})();
"""
