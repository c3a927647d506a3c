"""CPU time around a ``make bench-usage`` row, from Linux's /proc: which CPU bounds it.

The API process's one event loop tops out at 1.0 core; the host's cores are shared by the
API, PostgreSQL and the benchmark's callers; the hypervisor may take some of them (steal).
Elsewhere than Linux nothing is sampled and the rows say nothing about CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuSample:
    """CPU time so far (Linux's /proc): the API process's, and the host's busy and stolen
    time across all cores. Where a consume row's time goes: the API process at 1.0 core
    is its ceiling (one event loop); the host at all its cores is the machine's."""

    api: float
    busy: float
    stolen: float
    total: float

    @staticmethod
    def take(pid: int) -> CpuSample | None:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open("/proc/stat") as host:
                jiffies = [int(v) for v in host.readline().split()[1:]]
        except OSError:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        idle = jiffies[3] + jiffies[4]
        total = sum(jiffies[:8])
        return CpuSample(
            api=(int(fields[11]) + int(fields[12])) / tick,
            busy=(total - idle) / tick,
            stolen=jiffies[7] / tick,
            total=total / tick,
        )


@dataclass(frozen=True)
class CpuUse:
    api_per_call_us: float
    api_cores: float
    host_busy_cores: float
    stolen_share: float

    @staticmethod
    def between(before: CpuSample | None, after: CpuSample | None, calls: int) -> CpuUse | None:
        if before is None or after is None or after.total <= before.total:
            return None
        cores = os.cpu_count() or 1
        # The host's clock time: its CPU time over its cores.
        seconds = (after.total - before.total) / cores
        return CpuUse(
            api_per_call_us=(after.api - before.api) / calls * 1e6,
            api_cores=(after.api - before.api) / seconds,
            host_busy_cores=(after.busy - before.busy) / seconds,
            stolen_share=(after.stolen - before.stolen) / (after.total - before.total),
        )
