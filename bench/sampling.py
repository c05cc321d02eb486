"""Resident memory and CPU time of a set of processes, sampled from /proc while a bench runs.

VmHWM (the kernel's high-water mark) covers a process's whole life, start-up included, so it
cannot tell what a phase of the bench cost; the sampler keeps, per named process, the largest
VmRSS it saw between `mark` calls, and the RSS at the mark, so a phase's peak and its growth
over where it started are read apart. CPU seconds (user + system) are read at both ends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from bench import procs


@dataclass(frozen=True)
class Footprint:
    """One process over one phase: RSS when it began, the largest RSS seen during it (MiB), and
    the CPU seconds it used."""

    start_mib: float
    peak_mib: float
    cpu_s: float

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.start_mib


class ProcessSampler:
    """Samples every `interval_s` in a daemon thread; `mark()` starts a phase, `phase()` reads it."""

    def __init__(self, pids: Mapping[str, int], interval_s: float = 0.25) -> None:
        self.pids = dict(pids)
        self.interval_s = interval_s
        self.samples = 0
        self.gone: set[str] = set()
        self._start: dict[str, float] = {}
        self._peak: dict[str, float] = {}
        self._cpu_start: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)

    def __enter__(self) -> ProcessSampler:
        self.mark()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def mark(self) -> None:
        """Begin a phase: the current RSS is its start and its peak so far."""
        now = self._read()
        with self._lock:
            self._start = {name: rss for name, (rss, _) in now.items()}
            self._peak = dict(self._start)
            self._cpu_start = {name: cpu for name, (_, cpu) in now.items()}

    def phase(self) -> dict[str, Footprint]:
        """Each process's footprint since the last `mark` (one last sample included)."""
        cpu = self._sample()
        with self._lock:
            return {
                name: Footprint(self._start.get(name, 0.0), peak, cpu.get(name, 0.0) - self._cpu_start.get(name, 0.0))
                for name, peak in self._peak.items()
            }

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> dict[str, float]:
        """Record a sample; the CPU seconds of each process so far."""
        now = self._read()
        with self._lock:
            self.samples += 1
            for name, (rss, _) in now.items():
                self._peak[name] = max(self._peak.get(name, 0.0), rss)
        return {name: cpu for name, (_, cpu) in now.items()}

    def _read(self) -> dict[str, tuple[float, float]]:
        """(RSS MiB, CPU seconds) of each live process."""
        out: dict[str, tuple[float, float]] = {}
        for name, pid in self.pids.items():
            use = procs.usage(pid)
            if use is None:
                self.gone.add(name)  # a process that died mid-bench is reported, not silently dropped
                continue
            out[name] = (use.rss_mib, use.cpu_s)
        return out
