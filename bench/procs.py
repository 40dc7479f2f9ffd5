"""CPU seconds of processes, for benchmarks that report where a run's time went (Linux ``/proc``)."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def _clock_fields(pid: int) -> list[int]:
    """utime, stime, cutime, cstime of process ``pid``, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return [int(f) for f in fields[11:15]]


def cpu_s(pid: int) -> float:
    """User + system seconds of process ``pid`` so far."""
    return sum(_clock_fields(pid)[:2]) / os.sysconf("SC_CLK_TCK")


def cpu_with_children_s(pid: int) -> float:
    """As :func:`cpu_s`, plus the CPU of the children ``pid`` has waited for (reaped)."""
    return sum(_clock_fields(pid)) / os.sysconf("SC_CLK_TCK")


def rusage_cpu_s(who: int) -> float:
    """User + system seconds of ``resource.RUSAGE_SELF`` or ``RUSAGE_CHILDREN`` (reaped ones)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
