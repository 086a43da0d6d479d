"""Scale-out on Celery: the same 100-application credit_harvest on two workers vs one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Result
from devtools.distributed import POOLS
from devtools.distributed import run as distributed_run

APPLICATIONS = 100


def celery_two_workers_vs_one() -> Result:
    runs = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            runs[workers] = distributed_run(Path(tmp), applications=APPLICATIONS, workers=workers)
        assert runs[workers].state == "success", runs[workers].summary()
    one, two = runs[1], runs[2]
    return Result(
        "celery_two_workers_vs_one",
        APPLICATIONS / two.wall,
        APPLICATIONS / one.wall,
        "applications/s",
        f"the same harvest on one Celery worker (4 slots): {one.wall:.0f} s wall, CPU "
        f"{one.cpu_busy:.0%} busy; two workers (8 slots): {two.wall:.0f} s, CPU "
        f"{two.cpu_busy:.0%}; pools {POOLS} cap the legacy calls either way; 2 cores",
    )


def run() -> list[Result]:
    return [celery_two_workers_vs_one()]
