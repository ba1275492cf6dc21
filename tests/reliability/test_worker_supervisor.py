"""The worker's supervisor (`manage.py run_worker`), with real processes.

kombu 5.7 can leave a worker that neither exits nor consumes after a broker loss
(celery/celery#10205). The supervisor pings its worker through the broker and replaces it after
a few misses while the broker answers; it starts again a worker that exits; it waits, and
replaces nothing, while the broker is down; SIGTERM is the worker's warm shutdown. A worker
frozen with SIGSTOP stands in for the stuck one: it holds its connection and answers nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from metrics import jobs
from metrics.models import MetricRun
from tests.conftest import need
from tests.metrics.test_rollup import _dump
from tests.reliability.test_engine_processes import _clean_backfill, _data, _stop, _wait_for
from tests.reliability.test_engine_processes import env as engine_env  # noqa: F401 - a fixture
from tests.reliability.test_outages import (
    MISSES,
    PING_EVERY,
    _free_port,
    _pings,
    _start_redis,
    _start_worker,
    _wait,
)


def start_supervised(env: dict, log: Path, name: str, concurrency: int = 2) -> subprocess.Popen:
    return _start_worker(env, log, name=name, concurrency=concurrency)


def answers(process: subprocess.Popen) -> bool:
    return _pings(process.client, process.node)


def worker_pid(process: subprocess.Popen) -> int | None:
    """The supervisor's one child: the worker's main process."""
    found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    return int(found[0]) if len(found) == 1 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its parent.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _node_processes(node: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"celeryd: {node}"], capture_output=True, text=True).stdout.split()


@pytest.mark.services
def test_a_frozen_worker_is_replaced_and_the_nightly_run_completes(engine_env, tmp_path):  # noqa: F811
    _data()
    jobs.metrics_mark_changed(days=jobs.all_days())
    log = tmp_path / "worker.log"
    supervisor = start_supervised(engine_env, log, "frozen")
    try:
        frozen = worker_pid(supervisor)
        assert frozen is not None
        started = time.monotonic()
        os.kill(frozen, signal.SIGSTOP)  # holds its connection, answers nothing, never exits
        replacement = _wait(
            lambda: (pid := worker_pid(supervisor)) not in (None, frozen) and answers(supervisor) and pid,
            "the frozen worker was not replaced",
            timeout=90,
        )
        replaced_after = time.monotonic() - started
        assert not _alive(frozen), "the frozen worker was left behind"
        assert "missed 3 pings in a row while the broker answers: replacing it" in log.read_text()
        run_id = supervisor.client.send_task("metrics.run_nightly").get(timeout=120)
        run = _wait_for(run_id, lambda run: run.status != MetricRun.Status.RUNNING)
    finally:
        _stop(supervisor)
    assert run.status == MetricRun.Status.SUCCEEDED, run.error
    dump = _dump()
    assert dump == _clean_backfill()
    print(
        f"\nworker {frozen} frozen: replaced by {replacement} after {replaced_after:.1f} s "
        f"({MISSES} missed pings, one every {PING_EVERY} s); the nightly run then did "
        f"{run.chunks_done}/{run.chunks_total} chunks, {sum(len(r) for r in dump.values())} summary "
        "rows equal a clean backfill"
    )


@pytest.mark.services
def test_a_worker_that_dies_is_started_again_and_sigterm_stops_both(engine_env, tmp_path):  # noqa: F811
    log = tmp_path / "worker.log"
    supervisor = start_supervised(engine_env, log, "mortal", concurrency=1)
    try:
        first = worker_pid(supervisor)
        os.killpg(first, signal.SIGKILL)  # the worker and its pool, as the OOM killer might
        second = _wait(
            lambda: (pid := worker_pid(supervisor)) not in (None, first) and answers(supervisor) and pid,
            "the dead worker was not started again",
        )
        assert "exited with code -9: starting it again" in log.read_text()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
    finally:
        _stop(supervisor)
    assert "Warm shutdown" in log.read_text()
    _wait(
        lambda: not _node_processes(supervisor.node), "a worker process outlived its supervisor", timeout=30
    )
    print(f"\nworker {first} SIGKILLed: started again as {second}; SIGTERM: warm shutdown, exit 0, none left")


def test_with_the_broker_down_nothing_is_replaced_and_the_worker_comes_back(tmp_path):
    need(shutil.which("redis-server") is not None, "the test starts its own redis-server")
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SALESTRACK_ENV": "test",
    }
    redis_server = _start_redis(port)
    log = tmp_path / "worker.log"
    supervisor = start_supervised(env, log, "patient", concurrency=1)
    try:
        before = worker_pid(supervisor)
        redis_server.kill()
        redis_server.wait(timeout=10)
        # Many ping periods with no broker: a miss does not count, the worker is left to reconnect.
        time.sleep(4 * MISSES * PING_EVERY)
        assert worker_pid(supervisor) == before and "replacing it" not in log.read_text()
        redis_server = _start_redis(port)
        # Back: it reconnects by itself, or (kombu's failure) it is replaced; either way it answers.
        _wait(lambda: answers(supervisor), "no worker answered once the broker was back", timeout=90)
        after = worker_pid(supervisor)
    finally:
        _stop(supervisor)
        redis_server.kill()
        redis_server.wait(timeout=10)
    text = log.read_text()
    outcome = (
        f"it was stuck and replaced by {after}"
        if "replacing it" in text
        else f"it exited and was started again as {after}"
        if "exited with code" in text
        else "it reconnected"
    )
    print(
        f"\nbroker down for {4 * MISSES * PING_EVERY} s: worker {before} left alone; broker back: {outcome}"
    )


@pytest.mark.django_db
class CommandTests:
    def test_without_a_broker_it_says_what_to_set(self, settings):
        settings.REDIS_URL = ""
        with pytest.raises(CommandError, match="set REDIS_URL"):
            call_command("run_worker")

    def test_the_node_name_is_given_once(self, settings):
        settings.REDIS_URL = "redis://127.0.0.1:6379/0"
        with pytest.raises(CommandError, match="--node"):
            call_command("run_worker", "--", "-n", "other@host")
        with pytest.raises(CommandError, match="--misses"):
            call_command("run_worker", "--misses", "0")
