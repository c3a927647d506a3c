"""The printed table: plain text columns, ready to paste into a note."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .burst import BurstResult, server_messages
from .common import percentile
from .throughput import ThroughputResult
from .trialing import TrialingResult
from .year import YearResult

RATIO_TARGET = 0.8
RSS_TARGET_MIB = 1024
LATENESS_TARGET = 1.0


@dataclass
class Results:
    header: list[str] = field(default_factory=list)
    throughput: ThroughputResult | None = None
    burst: BurstResult | None = None
    trialing: TrialingResult | None = None
    year: YearResult | None = None
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


class Table:
    widths = (50, 17, 17, 7)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def header(self) -> None:
        self.row("measure", "engine", "bare", "ratio", "target / notes")
        self.lines.append("-" * 118)

    def section(self, title: str) -> None:
        self.lines.append(title)

    def row(
        self, measure: str, engine: str = "", bare: str = "", ratio: str = "", note: str = ""
    ) -> None:
        w = self.widths
        self.lines.append(
            f"{measure:<{w[0]}} {engine:>{w[1]}} {bare:>{w[2]}} {ratio:>{w[3]}}  {note}".rstrip()
        )


def _latencies(table: Table, label: str, engine: Sequence[float], bare: Sequence[float]) -> None:
    for p, name in ((0.5, "p50"), (0.99, "p99")):
        table.row(
            f"  {label} {name}",
            _ms(percentile(engine, p)),
            _ms(percentile(bare, p)),
        )


def _throughput(table: Table, r: ThroughputResult) -> None:
    ratio = r.engine.rate / r.bare.rate
    table.section(
        f"Sign-up throughput: {r.signups:,} per side in {r.rounds} alternating rounds, "
        f"{r.concurrency} in flight end to end (request start -> welcome / outbox row sent)"
    )
    table.row(
        "  sign-ups per second",
        f"{r.engine.rate:,.1f}/s",
        f"{r.bare.rate:,.1f}/s",
        f"{ratio:.2f}",
        f"target >= {RATIO_TARGET}: {_met(ratio >= RATIO_TARGET)}",
    )
    _latencies(table, "request start -> sent", r.engine.latencies, r.bare.latencies)
    per_round = ", ".join(
        f"{e.count / e.seconds:.1f} vs {b.count / b.seconds:.1f}"
        for e, b in zip(r.engine.runs, r.bare.runs, strict=True)
    )
    table.row("  per round (engine vs bare, /s)", note=per_round)
    if r.engine.retries or r.bare.retries:
        table.row(
            "  retried requests (503 / resource exhausted)",
            str(r.engine.retries),
            str(r.bare.retries),
        )


def _burst(table: Table, r: BurstResult) -> list[str]:
    e, b = r.engine, r.bare
    table.section(
        f"Burst: {r.size:,} sign-ups, {r.concurrency} requests in flight (the next request "
        "as soon as one returns)"
    )
    table.row(
        "  accepted (API 201 / start_workflow returned)",
        f"{e.count / e.accept_seconds:,.1f}/s",
        f"{b.count / b.accept_seconds:,.1f}/s",
        f"{(e.count / e.accept_seconds) / (b.count / b.accept_seconds):.2f}",
        f"all accepted after {e.accept_seconds:.1f} s vs {b.accept_seconds:.1f} s",
    )
    table.row(
        "  every welcome / outbox row sent after",
        f"{e.seconds:,.1f} s",
        f"{b.seconds:,.1f} s",
        f"{b.seconds / e.seconds:.2f}",
        f"{e.count / e.seconds:.1f}/s vs {b.count / b.seconds:.1f}/s end to end",
    )
    _latencies(table, "request start -> sent", e.latencies, b.latencies)
    for name, label in (
        ("temporal", "Temporal server"),
        ("worker", "engine worker"),
        ("api", "engine API"),
        ("bare-worker", "bare worker"),
    ):
        engine_cpu, bare_cpu = r.engine_cpu.get(name), r.bare_cpu.get(name)
        if engine_cpu is None and bare_cpu is None:
            continue
        table.row(
            f"  CPU of the {label}",
            _cores(engine_cpu, e.seconds),
            _cores(bare_cpu, b.seconds),
            note="CPU seconds (cores busy on average) from the first request to the last send",
        )
    eh, bh = r.engine_history, r.bare_history
    timeouts_ok = eh.task_timeouts == 0
    table.row(
        "  workflow-task timeouts (histories)",
        f"{eh.task_timeouts:,}",
        f"{bh.task_timeouts:,}",
        note=f"target 0: {_met(timeouts_ok)}; {eh.workflows:,} + {bh.workflows:,} histories read",
    )
    for kind in sorted({*eh.timeouts_by_type, *bh.timeouts_by_type}):
        table.row(
            f"    of which {kind.replace('_', '-')}",
            f"{eh.timeouts_by_type.get(kind, 0):,}",
            f"{bh.timeouts_by_type.get(kind, 0):,}",
        )
    table.row(
        "  workflow-task failures (histories)", f"{eh.task_failures:,}", f"{bh.task_failures:,}"
    )
    for label, engine_waits, bare_waits in (
        ("workflow task", eh.wft_waits, bh.wft_waits),
        ("activity task", eh.activity_waits, bh.activity_waits),
    ):
        table.row(
            f"  {label} schedule-to-start p99 / max",
            f"{_ms(percentile(engine_waits, 0.99))} / {max(engine_waits, default=0):.1f} s",
            f"{_ms(percentile(bare_waits, 0.99))} / {max(bare_waits, default=0):.1f} s",
        )
    table.row(
        "  worker log lines: task not found / timeouts",
        f"{len(r.worker_log_lines):,}",
        note="lines of the engine worker's log during the burst",
    )
    engine_server = server_messages(r.engine_server_log)
    bare_server = server_messages(r.bare_server_log)
    table.row(
        "  Temporal server log: warnings / errors",
        f"{len(r.engine_server_log):,}",
        f"{len(r.bare_server_log):,}",
        note="during each side's burst",
    )
    for key in sorted({*engine_server, *bare_server})[:6]:
        level, error, message = key
        table.row(
            f"    {level} {error}".rstrip(),
            f"{engine_server.get(key, 0):,}",
            f"{bare_server.get(key, 0):,}",
            note=message,
        )
    if r.api_log_lines:
        table.row("  API log lines: 5xx / warnings / errors", f"{len(r.api_log_lines):,}")
    if e.retries or b.retries:
        table.row("  retried requests (503 / resource exhausted)", str(e.retries), str(b.retries))
    examples = [*eh.examples, *r.worker_log_lines[:3], *r.api_log_lines[:3]]
    return examples


def _trialing(table: Table, r: TrialingResult) -> None:
    plan = r.plan
    table.section(
        f"Live trialing customers: {r.created:,} created in {r.creation_seconds:,.0f} s "
        f"({r.created / r.creation_seconds:,.1f}/s), every welcome sent after "
        f"{r.settle_seconds:,.0f} s; then {plan.describe()}"
    )
    for label, rss in (("population", r.rss_population), ("probes", r.rss_probes)):
        worker = rss.get("worker")
        if worker is not None:
            table.row(
                f"  worker RSS max / at the end ({label})",
                f"{_mib(worker[1])} / {_mib(worker[2])}",
                note=f"target <= {RSS_TARGET_MIB} MiB: "
                f"{_met(worker[1] <= RSS_TARGET_MIB * 1024)}; {_mib(worker[0])} at the start",
            )
        server = rss.get("temporal")
        if server is not None:
            table.row(
                f"  Temporal server RSS max / at the end ({label})",
                f"{_mib(server[1])} / {_mib(server[2])}",
            )
    table.row(
        "  probe reminders sent",
        f"{r.reminders:,} / {r.probes:,}",
        note=("" if r.reminders >= r.probes else "MISSING REMINDERS; ")
        + f"they fell due at {r.due_rate:,.1f}/s",
    )
    late = r.late_created
    p99 = percentile(late, 0.99)
    table.row(
        "  reminder lateness p50 / p99 / max",
        f"{_ms(percentile(late, 0.5))} / {_ms(p99)}",
        note=f"max {_ms(max(late, default=float('nan')))}; row created_at (workflow time) "
        f"- due; p99 target <= {LATENESS_TARGET:.0f} s: {_met(p99 <= LATENESS_TARGET)}",
    )
    sent = r.late_sent
    table.row(
        "  ... same, measured at sent_at",
        f"{_ms(percentile(sent, 0.5))} / {_ms(percentile(sent, 0.99))}",
        note=f"max {_ms(max(sent, default=float('nan')))}",
    )
    b = r.breakdown
    if b.histories:
        parts = (
            ("timer set to fire after due", b.planned),
            ("timer fired after set time", b.fired),
            ("workflow task started after fire", b.picked_up),
        )
        table.row(
            f"  breakdown ({b.histories} histories) p50 / p99",
            note="; ".join(
                f"{name} {_ms(percentile(v, 0.5))} / {_ms(percentile(v, 0.99))}"
                for name, v in parts
            ),
        )


def _year(table: Table, r: YearResult) -> None:
    a, y = r.after_year, r.after_conversion  # the whole year; just after the conversion
    table.section(
        f"History of one customer: converted (starter, monthly, pm_card_visa), then "
        f"{r.renewals} renewals by the test clock"
    )
    table.row("  workflow runs (continue-as-new)", f"{a.runs}")
    table.row(
        "  history events, all runs",
        f"{a.events:,}",
        note=f"{y.events:,} after the conversion; "
        f"{(a.events - y.events) / r.renewals:.1f} per renewal",
    )
    table.row(
        "  history bytes (to_json), all runs",
        f"{a.json_bytes / 1024:,.1f} KiB",
        note=f"proto {a.proto_bytes / 1024:,.1f} KiB; after the conversion "
        f"{y.json_bytes / 1024:,.1f} KiB",
    )
    table.row(
        "  largest single payload",
        f"{a.largest_payload / 1024:,.1f} KiB",
        note=f"in {a.largest_payload_event}",
    )
    table.row(
        "  renewal round trip p50 / max",
        f"{_ms(percentile(r.renewal_seconds, 0.5))} / {_ms(max(r.renewal_seconds))}",
        note="advance the clock -> the view shows the new period",
    )
    top = sorted(a.event_types.items(), key=lambda kv: -kv[1])[:6]
    table.row("  most frequent events", note=", ".join(f"{k} {v}" for k, v in top))


def render(results: Results) -> str:
    table = Table()
    table.lines.extend(results.header)
    table.lines.append("")
    table.header()
    examples: list[str] = []
    if results.throughput is not None:
        _throughput(table, results.throughput)
    if results.burst is not None:
        examples += _burst(table, results.burst)
    if results.trialing is not None:
        _trialing(table, results.trialing)
    if results.year is not None:
        _year(table, results.year)
    for phase, error in results.errors.items():
        table.row(f"{phase}: FAILED", note=error.splitlines()[0][:200] if error else "")
    if examples:
        table.lines += ["", "examples from the burst:"] + [f"  {line[:220]}" for line in examples]
    if results.notes:
        table.lines += ["", *results.notes]
    return "\n".join(table.lines)


def _cores(seconds: float | None, over: float) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:,.0f} s ({seconds / over:.2f})"
