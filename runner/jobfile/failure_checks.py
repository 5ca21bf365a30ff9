"""Rules for the failure rules (`retry_on`, `abort_on`, `ok_exit_codes`) that the models
cannot say one value at a time: a rule that can never match, a value named twice, an
exit code that never fails. Works on raw values, like the other cross-field rules, so
these are reported with every other problem of the file at their line:col."""

from __future__ import annotations

Problem = tuple[tuple[str | int, ...], str]
_RULE_LISTS = ("statuses", "exit_codes", "exceptions")


def problems(values: dict[str, object]) -> list[Problem]:
    found = _rule(values.get("abort_on"), ("abort_on",))
    defaults = values.get("defaults")
    if isinstance(defaults, dict):
        found += _rule(defaults.get("retry_on"), ("defaults", "retry_on"))
    tasks = values.get("tasks")
    for i, task in enumerate(tasks if isinstance(tasks, list) else ()):
        if isinstance(task, dict):
            found += _rule(task.get("retry_on"), ("tasks", i, "retry_on"))
            found += _duplicates(task.get("ok_exit_codes"), ("tasks", i, "ok_exit_codes"))
    return found


def _rule(rule: object, where: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(rule, dict):
        return []
    if not any(rule.get(name) for name in _RULE_LISTS):
        instead = ("leave it out to let max_failures decide" if where == ("abort_on",) else
                   "leave it out to retry every failure, or set `retries: 0`")
        return [(where, "matches no failure: name `statuses`, `exit_codes` or `exceptions` "
                 f"({instead})")]
    found: list[Problem] = []
    for name in _RULE_LISTS:
        found += _duplicates(rule.get(name), (*where, name))
    codes = rule.get("exit_codes")
    if isinstance(codes, list):
        found += [((*where, "exit_codes", k), "exit code 0 is a success, never a failure "
                   "a rule could match") for k, code in enumerate(codes)
                  if code == 0 and type(code) is int]
    return found


def _duplicates(items: object, where: tuple[str | int, ...]) -> list[Problem]:
    """Each value named once: a second mention is a slip (a wrong number, most likely)."""
    if not isinstance(items, list):
        return []
    seen: dict[object, int] = {}
    found: list[Problem] = []
    for k, item in enumerate(items):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            continue
        if item in seen:
            found.append(((*where, k), f"{item!r} is listed twice (also at item {seen[item]})"))
        else:
            seen[item] = k
    return found
