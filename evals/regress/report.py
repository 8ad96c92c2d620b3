"""Reports for a regression run: a text table, a baseline comparison, JSON and a small
self-contained HTML page (inline CSS, no scripts or external assets: it is attached to CI runs)."""

from __future__ import annotations

import difflib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from evals.assertions import JUDGE_SKIPPED

from .accuracy import RunMetrics, run_metrics
from .runner import CaseResult, RunResult


@dataclass
class Change:
    id: str
    category: str
    before: str  # "pass" | "fail" | "error" | "absent"
    after: str
    diff: str  # unified diff of the transcripts, baseline → current
    failed: list[str] = field(default_factory=list)  # failing assertions now


@dataclass
class Comparison:
    regressions: list[Change]  # pass → fail, and new cases that fail
    fixes: list[Change]  # fail → pass
    removed: list[str]
    prompt_changes: list[str]

    @property
    def ok(self) -> bool:
        return not self.regressions


def _failed_labels(c: CaseResult) -> list[str]:
    out = [f"turn {i}: {a.label} ({a.detail})" for i, t in enumerate(c.turns, 1) for a in t.failed]
    return out + ([f"error: {c.error}"] if c.error else [])


def command_misses(run: RunResult) -> list[str]:
    """One line per scored turn whose commands did not match."""
    return [
        f"{c.id} turn {i} ({t.understood_by or '?'}): {t.user[:60]!r}: {t.command_detail}"
        for c in run.cases
        for i, t in enumerate(c.turns, 1)
        if t.command_match is False
    ]


def _rate(x: float) -> str:
    return "  n/a" if x != x else f"{100 * x:5.1f}%"


def _ms(x: float) -> str:
    return "n/a" if x != x else f"{x:,.0f} ms"


def metrics_lines(m: RunMetrics) -> list[str]:
    """The dialogue figures: command accuracy, per-turn pass rate, model-written share,
    latency percentiles, and which path understood the turns."""
    by = ", ".join(f"{k} {v}" for k, v in sorted(m.understood_by.items()))
    per_cmd = ", ".join(
        f"{k} {ok}/{n}" for k, (ok, n) in sorted(m.by_command.items(), key=lambda kv: kv[0])
    )
    return [
        f"command accuracy:      {_rate(m.command_accuracy)} ({m.command_matches}/"
        f"{m.scored_turns} scored turns; slots {_rate(m.slot_accuracy).strip()})",
        f"turn pass rate:        {_rate(m.turn_pass_rate)} ({m.assertion_turns_passed}/"
        f"{m.assertion_turns} turns; assertions {m.assertions_passed}/{m.assertions})",
        f"model-written share:   {_rate(m.model_written_share)} ({m.model_written}/"
        f"{m.product_turns} recommendation / ask_about / compare turns)",
        f"first text p50 / p95:  {_ms(m.first_text_p50_ms)} / {_ms(m.first_text_p95_ms)}",
        f"turn p50 / p95:        {_ms(m.turn_p50_ms)} / {_ms(m.turn_p95_ms)}",
        f"understood by:         {by}",
        *([f"accuracy per command: {per_cmd}"] if per_cmd else []),
    ]


def transcript_diff(before: CaseResult | None, after: CaseResult) -> str:
    old = before.transcript().splitlines() if before else []
    return "\n".join(
        difflib.unified_diff(
            old, after.transcript().splitlines(), "baseline", "current", lineterm=""
        )
    )


def compare(baseline: RunResult, current: RunResult) -> Comparison:
    regressions, fixes = [], []
    for case in current.cases:
        old = baseline.case(case.id)
        before = old.status if old else "absent"
        if case.passed and before not in ("pass", "absent"):
            fixes.append(
                Change(case.id, case.category, before, case.status, transcript_diff(old, case))
            )
        elif (not case.passed and before == "pass") or (not case.ok and before == "absent"):
            regressions.append(
                Change(
                    case.id,
                    case.category,
                    before,
                    case.status,
                    transcript_diff(old, case),
                    _failed_labels(case),
                )
            )
    now = {c.id for c in current.cases}
    removed = [c.id for c in baseline.cases if c.id not in now]
    old_p, new_p = baseline.meta.get("prompts", {}), current.meta.get("prompts", {})
    prompt_changes = [
        f"{k}: {'added' if k not in old_p else 'removed' if k not in new_p else 'changed'}"
        for k in sorted(set(old_p) | set(new_p))
        if old_p.get(k) != new_p.get(k)
    ]
    return Comparison(regressions, fixes, removed, prompt_changes)


def load_run(path: Path) -> RunResult:
    return RunResult.from_json(json.loads(Path(path).read_text()))


def write_json(run: RunResult, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(run.to_json(), indent=1, default=str) + "\n")


def _pct(p: int, t: int) -> str:
    return f"{100 * p / t:5.1f}%" if t else "  n/a"


def text_report(run: RunResult, comparison: Comparison | None = None, verbose: bool = False) -> str:
    lines = [
        f"model: {run.meta.get('model', '?')}   repeat: {run.meta.get('repeat', 1)}   "
        f"time: {run.meta.get('duration_s', '?')} s",
        "",
        f"{'category':<18}{'passed':>8}{'total':>7}{'rate':>8}",
    ]
    for cat, (p, t) in sorted(run.by_category().items()):
        lines.append(f"{cat:<18}{p:>8}{t:>7}{_pct(p, t):>8}")
    total = len(run.cases)
    lines.append(f"{'ALL':<18}{run.passed:>8}{total:>7}{_pct(run.passed, total):>8}")
    lines += ["", *metrics_lines(run_metrics(run))]
    misses = command_misses(run)
    if misses:
        lines += ["", f"COMMAND MISSES ({len(misses)}):"]
        lines += [f"  {m}" for m in misses[: None if verbose else 25]]
        if not verbose and len(misses) > 25:
            lines.append(f"  ... and {len(misses) - 25} more (--verbose-failures lists all)")
    skipped = sum(c.skipped for c in run.cases)
    if skipped:
        lines += ["", f"NOTICE: {skipped} judge assertion(s) {JUDGE_SKIPPED}"]
    failing = [c for c in run.cases if not c.passed]
    if failing:
        lines += ["", "FAILED:"]
        for c in failing:
            known = f" XFAIL (known bug: {c.xfail})" if c.ok else ""
            lines.append(f"  {c.id} [{c.category}] {c.status}{known}")
            lines += [f"    - {f}" for f in _failed_labels(c)]
            if verbose:
                lines += [f"      | {ln}" for ln in c.transcript().splitlines()]
    xpass = [c.id for c in run.cases if c.xfail and c.passed]
    if xpass:
        lines += ["", "XPASS (a known bug seems fixed; drop its xfail): " + ", ".join(xpass)]
    if run.flaky:
        lines += ["", "FLAKY (outcomes differ across repeats):"]
        lines += [f"  {c.id}: {' '.join(c.repeats)}" for c in run.flaky]
    if comparison is not None:
        lines += [
            "",
            f"vs baseline: {len(comparison.regressions)} regression(s), "
            f"{len(comparison.fixes)} fix(es), {len(comparison.removed)} removed",
        ]
        if comparison.prompt_changes:
            lines.append("  prompts: " + ", ".join(comparison.prompt_changes))
        for title, changes in (
            ("REGRESSIONS (pass → fail)", comparison.regressions),
            ("FIXES (fail → pass)", comparison.fixes),
        ):
            if changes:
                lines += ["", title + ":"]
                for ch in changes:
                    lines.append(f"  {ch.id} [{ch.category}] {ch.before} → {ch.after}")
                    lines += [f"    - {f}" for f in ch.failed]
                    lines += [f"    {ln}" for ln in ch.diff.splitlines()]
        if comparison.removed:
            shown = ", ".join(comparison.removed[:10])
            more = len(comparison.removed) - 10
            lines += ["", f"not in this run: {shown}" + (f" and {more} more" if more > 0 else "")]
    return "\n".join(lines)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.pass{color:#137333}.fail,.error{color:#b3261e;font-weight:600}.skip{color:#8a6d00}
details{margin:.3em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .6em}
summary{cursor:pointer}pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;font-size:12px}
.del{color:#b3261e}.add{color:#137333}.notice{background:#fff4ce;padding:.5em;border-radius:4px}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _diff_html(diff: str) -> str:
    rows = []
    for ln in diff.splitlines():
        cls = "add" if ln.startswith("+") else "del" if ln.startswith("-") else ""
        rows.append(f'<span class="{cls}">{_e(ln)}</span>')
    return "<pre>" + "\n".join(rows) + "</pre>"


def _case_html(c: CaseResult) -> str:
    label = "XFAIL" if c.xfail and not c.passed else "XPASS" if c.xfail else c.status.upper()
    parts = [
        f'<details{" open" if not c.passed else ""}><summary><span class="{c.status}">'
        f"{label}</span> {_e(c.id)} <small>[{_e(c.category)}] "
        f"shopper={_e(c.shopper)}{' · FLAKY ' + ' '.join(c.repeats) if c.flaky else ''}"
        f"</small></summary>"
    ]
    if c.error:
        parts.append(f'<p class="error">{_e(c.error)}</p>')
    if c.xfail:
        parts.append(f'<p class="skip">known bug: {_e(c.xfail)}</p>')
    for t in c.turns:
        cmds = ""
        if t.expected_commands is not None:
            cls = "pass" if t.command_match else "fail"
            cmds = (
                f'<br><small class="{cls}">commands ({_e(t.understood_by)}): '
                f"{_e(json.dumps(t.commands))} — {_e(t.command_detail)}</small>"
            )
        parts.append(
            f"<p><b>user:</b> {_e(t.user)}<br><small>intent={_e(t.intent)} "
            f"refused={_e(t.refused)} {t.latency_ms:.0f} ms"
            f"{' generated' if t.generated else ''}{' fallback' if t.fallback else ''}"
            f"</small>{cmds}</p><pre>{_e(t.text)}</pre><ul>"
        )
        parts += [
            f'<li class="{a.status}">{a.status}: {_e(a.label)} <small>{_e(a.detail)}</small></li>'
            for a in t.assertions
        ]
        parts.append("</ul>")
    return "".join(parts) + "</details>"


def html_report(run: RunResult, comparison: Comparison | None = None) -> str:
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{p}</td><td>{t}</td><td>{_pct(p, t)}</td></tr>"
        for k, (p, t) in sorted(run.by_category().items())
    )
    meta = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in run.meta.items() if k != "prompts"
    )
    body = [
        f"<h1>shopassist regression run</h1><table>{meta}</table>",
        f"<h2>Pass rate: {run.passed}/{len(run.cases)}</h2>",
        f"<table><tr><th>category</th><th>passed</th><th>total</th><th>rate</th></tr>{rows}"
        f"</table>",
    ]
    body.append("<pre>" + _e("\n".join(metrics_lines(run_metrics(run)))) + "</pre>")
    skipped = sum(c.skipped for c in run.cases)
    if skipped:
        body.append(f'<p class="notice">{skipped} judge assertion(s) {_e(JUDGE_SKIPPED)}</p>')
    if comparison is not None:
        body.append(
            f"<h2>Against the baseline</h2><p>{len(comparison.regressions)} regression(s), "
            f"{len(comparison.fixes)} fix(es). Prompts: "
            f"{_e(', '.join(comparison.prompt_changes) or 'unchanged')}</p>"
        )
        for title, changes in (
            ("Regressions", comparison.regressions),
            ("Fixes", comparison.fixes),
        ):
            for ch in changes:
                body.append(
                    f"<h3>{title[:-1]}: {_e(ch.id)} ({ch.before} → {ch.after})</h3>"
                    + "".join(f'<p class="fail">{_e(f)}</p>' for f in ch.failed)
                    + _diff_html(ch.diff)
                )
    if run.flaky:
        body.append(
            "<h2>Flaky</h2><ul>"
            + "".join(f"<li>{_e(c.id)}: {' '.join(c.repeats)}</li>" for c in run.flaky)
            + "</ul>"
        )
    body.append("<h2>Cases</h2>" + "".join(_case_html(c) for c in run.cases))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>shopassist regress</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def write_html(run: RunResult, path: Path, comparison: Comparison | None = None) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(html_report(run, comparison))
