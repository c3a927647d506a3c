"""Sign-up throughput: bare and engine rounds alternate, each with a fixed number of sign-ups
in flight end to end."""

from __future__ import annotations

from dataclasses import dataclass

from .common import log, percentile
from .signups import SignupRun, run_bare, run_engine
from .stack import Stack


@dataclass
class Combined:
    runs: list[SignupRun]

    @property
    def count(self) -> int:
        return sum(r.count for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def latencies(self) -> list[float]:
        return [latency for r in self.runs for latency in r.latencies]

    @property
    def retries(self) -> int:
        return sum(r.retries for r in self.runs)


@dataclass
class ThroughputResult:
    signups: int
    concurrency: int
    rounds: int
    engine: Combined
    bare: Combined


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def throughput(
    stack: Stack, dsn: str, tag: str, *, signups: int, concurrency: int, rounds: int
) -> ThroughputResult:
    assert stack.client is not None
    warm = max(min(20, signups // 5), concurrency)
    log(f"throughput: warm-up, {warm} sign-ups each side")
    await run_bare(
        stack.client,
        dsn,
        f"{tag}-warm",
        count=warm,
        concurrency=concurrency,
        what="warm-up",
        closed_loop=True,
    )
    await run_engine(
        stack,
        dsn,
        f"{tag}-warm",
        count=warm,
        concurrency=concurrency,
        what="warm-up",
        closed_loop=True,
    )
    engine: list[SignupRun] = []
    bare: list[SignupRun] = []
    for number, size in enumerate(_split(signups, rounds), start=1):
        for side in ("bare", "engine"):
            what = f"throughput round {number}/{rounds} {side}"
            prefix = f"{tag}-tp{number}"
            if side == "bare":
                run = await run_bare(
                    stack.client,
                    dsn,
                    prefix,
                    count=size,
                    concurrency=concurrency,
                    what=what,
                    closed_loop=True,
                )
                bare.append(run)
            else:
                run = await run_engine(
                    stack,
                    dsn,
                    prefix,
                    count=size,
                    concurrency=concurrency,
                    what=what,
                    closed_loop=True,
                )
                engine.append(run)
            log(
                f"{what}: {size} in {run.seconds:.1f} s = {size / run.seconds:.1f}/s, "
                f"p50 {percentile(run.latencies, 0.5) * 1000:.0f} ms"
            )
    return ThroughputResult(signups, concurrency, rounds, Combined(engine), Combined(bare))
