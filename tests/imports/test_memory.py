"""A long activities file imports in bounded memory (rows are streamed, looked up in batches).

Memory is sampled as the resident set size at every progress call (every 1,000
rows), not with tracemalloc: tracing every allocation makes the import six
times slower, and the RSS is what a worker actually pays. On SQLite the test
database lives in the same process, so its growth (the 200,000 rows written)
counts against the bound too.
"""

import csv
import time
from pathlib import Path

from activities.imports import run_import
from activities.models import Activity
from tests.conftest import need

ROWS = 200_000
GROWTH_BOUND = 150 * 1024 * 1024
STATM = Path("/proc/self/statm")


def rss() -> int:
    import os

    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_200k_row_file_imports_in_bounded_memory(cast, tmp_path, capsys):
    need(STATM.exists(), "measuring the resident set size needs Linux's /proc")
    path = tmp_path / "activities.csv"
    reps = ["rep_a1", "rep_a2", "rep_b1"]
    types = ["Call", "Email", "Client meeting", "Demo", "Admin"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "rep", "type", "occurred_at", "duration_minutes", "notes"])
        for i in range(ROWS):
            moment = f"2026-02-{1 + i % 28:02d} {8 + i % 9:02d}:{i % 60:02d}"
            writer.writerow([f"M{i}", reps[i % 3], types[i % 5], moment, 5 + i % 50, "note " * (i % 7)])

    baseline = rss()
    samples = []
    started = time.perf_counter()
    report = run_import(
        "activities", str(path), filename="activities.csv", progress=lambda done, total: samples.append(rss())
    )
    elapsed = time.perf_counter() - started

    assert report.ok, report.errors[:5]
    assert report.created == ROWS
    assert Activity.objects.count() == ROWS
    growth = max(samples) - baseline
    assert growth < GROWTH_BOUND, f"the process grew by {growth / 2**20:.0f} MiB"
    with capsys.disabled():
        print(
            f"\n{ROWS} activities in {elapsed:.1f} s ({ROWS / elapsed:.0f} rows/s), "
            f"RSS growth {growth / 2**20:.0f} MiB"
        )
