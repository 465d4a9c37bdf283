"""Phases, targets and the printed table of ``bench/fleet.py``.

A target is stated for one fleet size (1,000 machines, or 100 for the mixed reads). Rates measured at
another N are projected to the target's size where the work is per series (training, monitoring);
latencies of reads are only judged at the size the target names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.fleet import Batch
    from bench.fleet_reads import LoadResult

TARGET_MACHINES = 1_000
READS_TARGET_MACHINES = 100
MODEL_TYPES = 4


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass
class Phase:
    name: str
    seconds: float
    detail: str
    load: str = field(default_factory=load_average)


@dataclass
class Targets:
    machines: int
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    two_worker_rates: dict[str, float] = field(default_factory=dict)
    #: Whether this run trained the fleet (its build rates are the full-N measurement).
    built: bool = False

    def judge(self, target: str, measured: str, passed: bool | None) -> None:
        verdict = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        self.rows.append((target, measured, verdict))

    def add_build(self, phases: list[Phase], build: Sequence[Batch]) -> None:
        for batch in build:
            phases.append(
                Phase(f"build: train {batch.model_type.name}", batch.seconds, _batch_text(batch), _load(batch))
            )
            self.two_worker_rates[batch.model_type.name] = batch.fits_per_min
        self.built = bool(build)
        if not build:
            phases.append(Phase("build: training", 0.0, "reused (every series has a champion)"))

    def add_scaling(self, phases: list[Phase], by_workers: dict[int, list[Batch]]) -> None:
        for workers, batches in by_workers.items():
            for batch in batches:
                phases.append(
                    Phase(
                        f"retrain sample, {workers} worker(s): {batch.model_type.name}",
                        batch.seconds,
                        _batch_text(batch),
                        _load(batch),
                    )
                )
        one = sum(batch.seconds for batch in by_workers[1])
        two = sum(batch.seconds for batch in by_workers[2])
        jobs = sum(batch.jobs for batch in by_workers[1])
        phases.append(
            Phase(
                "retrain sample: scaling",
                one + two,
                f"{jobs} fits: 1 worker {one:.0f} s, 2 workers {two:.0f} s, ratio {one / two:.2f}x",
            )
        )
        for batch in by_workers[2]:
            self.two_worker_rates.setdefault(batch.model_type.name, batch.fits_per_min)
        if len(self.two_worker_rates) == MODEL_TYPES and all(self.two_worker_rates.values()):
            minutes = sum(TARGET_MACHINES / rate for rate in self.two_worker_rates.values())
            if not self.built:  # a --reuse run trained nothing at full N: only the sample's rates are known
                basis = f"projected from the {len(by_workers[2])}-type sample of {by_workers[2][0].jobs} machines"
            elif self.machines == TARGET_MACHINES:
                basis = "measured"
            else:
                basis = f"projected from N={self.machines}"
            self.judge(
                "retrain 4 types x 1,000 machines, 2 workers < 30 min", f"{minutes:.1f} min ({basis})", minutes < 30
            )

    def add_cycle(self, phases: list[Phase], days: int, evaluations: int, seconds: float, series: int) -> None:
        rate = evaluations / seconds if seconds else 0.0
        label = "monitoring cycle, full" if days > 1 else "monitoring cycle, one new day"
        phases.append(Phase(label, seconds, f"{evaluations}/{series} series evaluated, {rate:.1f} series/s"))
        if rate:
            projected = TARGET_MACHINES * MODEL_TYPES / rate
            limit = 300.0 if days > 1 else 60.0
            basis = "measured" if self.machines == TARGET_MACHINES else f"projected from N={self.machines}"
            self.judge(f"{label} over 4,000 series < {limit:.0f} s", f"{projected:.0f} s ({basis})", projected < limit)

    def add_reads(self, phases: list[Phase], reads: Sequence[LoadResult]) -> None:
        for result in reads:
            phases.append(
                Phase(
                    f"{result.label}, {result.connections} conn.",
                    result.seconds,
                    f"{result.per_second:.1f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                    f"{result.errors} errors of {result.requests}"
                    + (f" (first: {result.example[:120]})" if result.example else ""),
                )
            )
        alone, mixed = reads[0], reads[-1]
        at_size = self.machines == TARGET_MACHINES
        self.judge(
            "fleet page at 1,000 machines p50 < 150 ms",
            f"{alone.p50_ms:.1f} ms at N={self.machines}",
            (alone.p50_ms < 150 and not alone.errors) if at_size else None,
        )
        at_size = self.machines == READS_TARGET_MACHINES
        self.judge(
            "mixed reads at 100 machines >= 300 req/s, p99 < 250 ms",
            f"{mixed.per_second:.1f} req/s, p99 {mixed.p99_ms:.0f} ms at N={self.machines}",
            (mixed.per_second >= 300 and mixed.p99_ms < 250 and not mixed.errors) if at_size else None,
        )


def _batch_text(batch: Batch) -> str:
    return f"{batch.jobs} fits, {batch.fits_per_min:.1f}/min, {batch.mean_job_s:.2f} s/job, {batch.failed} failed"


def _load(batch: Batch) -> str:
    return f"{batch.load:.2f}"


def print_report(
    phases: Sequence[Phase],
    targets: Targets,
    sizes: Sequence[tuple[str, int]],
    rss: dict[str, float],
    machines: int,
    total_s: float,
) -> None:
    print(f"\nFleet of {machines:,} machines ({machines * MODEL_TYPES:,} series), {os.cpu_count()} cores")
    print(f"{'phase':<44}{'wall s':>9}  {'load avg':<17}  measurement")
    for phase in phases:
        print(f"{phase.name:<44}{phase.seconds:>9.1f}  {phase.load:<17}  {phase.detail}")
    print(f"\n{'target':<58}{'measured':<40}verdict")
    for target, measured, verdict in targets.rows:
        print(f"{target:<58}{measured:<40}{verdict}")
    total = sum(size for _, size in sizes)
    print(f"\ndatabase: {total / 2**20:,.1f} MB, {total / machines / 2**20:.2f} MB per machine-year")
    for name, size in sizes:
        if size >= 64 * 1024:
            print(f"  {name:<32}{size / 2**20:>10.1f} MB {size / machines / 1024:>10.1f} kB/machine-year")
    print("peak RSS (VmHWM): " + ", ".join(f"{name} {value:.0f} MB" for name, value in rss.items()))
    print(f"total run time {total_s / 60:.1f} min, load average at the end {load_average()}")
