"""Outages with real processes: Redis killed under saves, PostgreSQL stopped under load.

The web app runs under gunicorn and a real Celery worker beside it, both pointed at a
redis-server of the test's own (broker, results and cache) and at the test database.
Redis is SIGKILLed while reps save through the form and the API: every save answers fast
and is in the database, pages and the API still read, an upload waits queued. Once Redis
is back, housekeeping sends the run and the import: the tables equal a clean backfill.

PostgreSQL: a cluster of the test's own (initdb in a temporary folder) is stopped under
load: every answer is a 503 with Retry-After, none a 500, and once it is started again
the same web process answers 200, with no restart.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from celery import Celery
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from activities.models import Activity, ActivityType, ImportJob
from metrics import jobs
from metrics.models import ChangedDay, MetricRun
from tests.conftest import PASSWORD, need
from tests.metrics.test_rollup import _dump
from tests.reliability.test_engine_processes import _clean_backfill, _stop

pytestmark = [pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
SAVES = 50
# Every answer while a service is down must come within this (seconds).
FAST = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return result


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    import redis

    def answers():
        try:
            return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    _wait(answers, "redis-server did not start")
    return process


def _pings(client: Celery, node: str | None = None) -> bool:
    try:
        return bool(client.control.ping(destination=[node] if node else None, timeout=1))
    except Exception:  # noqa: BLE001 - a connection of the old server's, dropped: ask again
        return False


# The supervisor's pings in these tests: one a second, replaced after 3 misses.
PING_EVERY, MISSES = 1, 3


def _start_worker(env: dict, log: Path, name: str = "outage", concurrency: int = 2) -> subprocess.Popen:
    """A real Celery worker under its supervisor (`manage.py run_worker`), as deployed.

    Returns once the worker answers a ping; its output goes to `log`. `process.node` is the
    worker's node name, `process.client` a Celery client on the same broker.
    """
    node = f"{name}@{os.uname().nodename}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "manage.py", "run_worker", "--node", node),
                *("--ping-every", str(PING_EVERY), "--misses", str(MISSES), "--stop-timeout", "20"),
                *("--", "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.node = node
    process.client = Celery("outage-client", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    try:
        _wait(lambda: process.poll() is None and _pings(process.client, node), "the worker did not answer")
    except BaseException:
        _stop(process)
        raise
    return process


def _start_web(env: dict, port: int, log: Path) -> subprocess.Popen:
    """gunicorn, as in production; its output goes to `log`, never to the test's pipes."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "salestrack.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy():
        assert process.poll() is None, f"the web process died:\n{log.read_text()}"
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    try:
        _wait(healthy, "the web process did not answer")
    except BaseException:
        _stop(process)
        raise
    return process


def _signed_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10)
    response = session.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, f"{username} could not sign in: {response.text[-3000:]}"
    return session


def _timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.fixture
def services_env(django_db_serialized_rollback, transactional_db, settings, tmp_path):
    need(connection.vendor == "postgresql", "processes sharing a database need PostgreSQL (set DATABASE_URL)")
    need(shutil.which("redis-server") is not None, "the outage test starts its own redis-server")
    settings.TIME_ZONE = "UTC"
    test_db = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    (tmp_path / "imports").mkdir()
    settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")
    return {
        **os.environ,
        "DATABASE_URL": urlunsplit(test_db),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TIME_ZONE": "UTC",
        "SALESTRACK_ENV": "test",
        "DEBUG": "false",
        "SALESTRACK_IMPORT_DIR": str(tmp_path / "imports"),
    }


def test_with_redis_killed_every_save_answers_fast_and_stays_and_the_next_run_catches_up(services_env, cast):
    redis_port, web_port = _free_port(), _free_port()
    env = {**services_env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    base = f"http://127.0.0.1:{web_port}"
    call_type = ActivityType.objects.get(name="Call")
    today = timezone.localdate()
    reps = [cast.rep_a1, cast.rep_a2, cast.rep_b1]
    tokens = {rep.pk: Token.objects.create(user=rep.user).key for rep in reps}
    # The figures are up to date before the outage.
    jobs.run_sync(kind=MetricRun.Kind.BACKFILL, days=[today - timedelta(days=n) for n in range(30)])

    redis_server = _start_redis(redis_port)
    worker = web = None
    try:
        logs = Path(services_env["SALESTRACK_IMPORT_DIR"]).parent
        worker = _start_worker(env, logs / "worker.log")
        web = _start_web(env, web_port, logs / "web.log")
        forms = {rep.pk: _signed_in(base, rep.user.username) for rep in reps}
        manager = _signed_in(base, cast.manager_a.username)
        admin = _signed_in(base, cast.admin.username)

        def save(n: int) -> tuple[requests.Response, float]:
            rep = reps[n % len(reps)]
            when = timezone.localtime() - timedelta(days=n % 20, hours=1)
            if n % 2:
                return _timed(
                    lambda: requests.post(
                        f"{base}/api/v1/activities/",
                        json={"type": call_type.pk, "occurred_at": when.isoformat(), "outcome": f"save {n}"},
                        headers={"Authorization": f"Token {tokens[rep.pk]}"},
                        timeout=10,
                    )
                )
            browser = forms[rep.pk]
            return _timed(
                lambda: browser.post(
                    f"{base}/activities/new/",
                    data={
                        "type": call_type.pk,
                        "occurred_at": when.strftime("%Y-%m-%dT%H:%M"),
                        "duration_minutes": 15,
                        "outcome": f"save {n}",
                        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                    },
                    allow_redirects=False,
                    timeout=10,
                )
            )

        # With Redis up, a form save and an API write, as a baseline.
        baseline = [save(n) for n in range(2)]
        assert [response.status_code for response, _ in baseline] == [302, 201]
        before = Activity.objects.count()

        redis_server.kill()  # SIGKILL: no goodbye to any client
        redis_server.wait(timeout=10)
        answers = [save(n) for n in range(2, 2 + SAVES)]
        reads = [
            _timed(lambda: manager.get(f"{base}/dashboard/", timeout=10)),
            _timed(lambda: manager.get(f"{base}/leaderboards/", timeout=10)),
            _timed(
                lambda: requests.get(
                    f"{base}/api/v1/activities/",
                    headers={"Authorization": f"Token {tokens[cast.rep_a1.pk]}"},
                    timeout=10,
                )
            ),
        ]
        upload = io.StringIO()
        rows = csv.writer(upload)
        rows.writerow(["rep", "type", "occurred_at", "duration_minutes", "outcome"])
        for n in range(5):
            rows.writerow(["rep_a2", "Email", f"{today - timedelta(days=n)} 09:00", 10, "imported"])
        queued, queued_time = _timed(
            lambda: admin.post(
                f"{base}/imports/",
                data={"kind": "activities", "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
                files={"file": ("activities.csv", upload.getvalue().encode())},
                allow_redirects=False,
                timeout=10,
            )
        )

        codes = Counter(response.status_code for response, _ in answers)
        times = [elapsed for _, elapsed in answers]
        assert set(codes) <= {201, 302}, codes
        assert max(times) < FAST, f"the slowest save took {max(times):.2f} s"
        assert Activity.objects.count() == before + SAVES, "a save was lost"
        assert Activity.objects.filter(outcome__startswith="save ").count() == SAVES + 2
        assert [response.status_code for response, _ in reads] == [200, 200, 200]
        assert max(elapsed for _, elapsed in reads) < FAST
        assert queued.status_code == 302 and queued_time < FAST
        job = ImportJob.objects.get()
        assert job.status == ImportJob.Status.QUEUED, "the upload waits for the broker"
        marks = ChangedDay.objects.count()
        assert marks >= 20, "the changed days wait in the database"
        print(
            f"redis killed: {SAVES} saves ({codes[302]} forms, {codes[201]} API), 0 lost, "
            f"median {statistics.median(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms; "
            f"3 reads 200 (slowest {max(elapsed for _, elapsed in reads) * 1000:.0f} ms); "
            f"upload queued in {queued_time * 1000:.0f} ms; {marks} days marked"
        )

        redis_server = _start_redis(redis_port)
        # kombu 5.7's worker may stop on a lost broker while it holds a message (a countdown's or
        # a running task's): "Unrecoverable error: AttributeError", after which it neither exits
        # nor consumes (celery/celery#10205). Its supervisor then replaces it; the test does
        # nothing but wait. Nothing is lost either way: the marks and the queued upload are rows
        # in the database.
        client = worker.client
        back = time.monotonic()
        _wait(lambda: _pings(client, worker.node), "no worker answered once Redis was back", timeout=90)
        answered_after = time.monotonic() - back
        supervised = (logs / "worker.log").read_text()
        reconnected = "replacing it" not in supervised and "exited with code" not in supervised
        # As if the housekeeping's five minutes had passed since the marks and the upload.
        ChangedDay.objects.update(marked_at=timezone.now() - timedelta(minutes=5))
        ImportJob.objects.update(created_at=timezone.now() - timedelta(hours=1))
        started = time.monotonic()
        assert client.send_task("metrics.housekeeping").get(timeout=60)["queued"] is True
        assert client.send_task("activities.purge_import_files").get(timeout=60)["requeued_jobs"] == 1
        run = _wait(
            lambda: MetricRun.objects.filter(
                kind=MetricRun.Kind.INCREMENTAL, status=MetricRun.Status.SUCCEEDED
            ).first(),
            "the catch-up run did not finish",
            timeout=120,
        )
        _wait(
            lambda: ImportJob.objects.get().status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
            "the queued import did not run",
        )
        caught_up = time.monotonic() - started
        job.refresh_from_db()
        assert job.status == ImportJob.Status.SUCCEEDED, job.error
        assert job.created_count == 5
        # The web process sends tasks again, with no restart.
        refreshed = manager.post(
            f"{base}/metrics/refresh/",
            data={"csrfmiddlewaretoken": manager.cookies["csrftoken"]},
            timeout=10,
        )
        assert refreshed.status_code == 200 and "Refresh queued" in refreshed.text
        # That run takes the import's marks too.
        _wait(
            lambda: (
                not ChangedDay.objects.exists()
                and not MetricRun.objects.filter(status=MetricRun.Status.RUNNING).exists()
            ),
            "the refresh run did not take the last marks",
            timeout=120,
        )
    finally:
        for process in (web, worker):
            if process is not None:
                _stop(process)
        redis_server.kill()
        redis_server.wait(timeout=10)

    dump = _dump()
    assert dump == _clean_backfill()
    print(
        f"redis back (worker {'reconnected' if reconnected else 'stuck, replaced by its supervisor'} "
        f"after {answered_after:.1f} s): "
        f"housekeeping sent the run ({run.chunks_done}/{run.chunks_total} chunks) and the "
        f"import ({job.created_count} rows) in {caught_up:.1f} s; "
        f"{sum(len(rows) for rows in dump.values())} summary rows equal a clean backfill"
    )


# --- PostgreSQL ------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A PostgreSQL cluster of the test's own, that it may stop and start."""

    def __init__(self, bin_dir: Path, folder: Path, port: int):
        self.bin, self.data, self.port = bin_dir, folder / "data", port
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def start(self) -> None:
        # A log file of its own: the server must not hold the test's pipes open.
        log = str(self.data.parent / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", log, "-w", "start")

    def stop(self) -> None:
        # "fast": every session is cut off at once, as a crash or a failover would.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster():
    bin_dir = _postgres_bin()
    need(bin_dir is not None, "the 503 test starts its own PostgreSQL (initdb, pg_ctl)")
    folder = Path(tempfile.mkdtemp(prefix="salestrack-pg-"))
    own = Cluster(bin_dir, folder, _free_port())
    try:
        own.start()
        yield own
    finally:
        # Stopped already if the test went well; "immediate" if it did not.
        subprocess.run(
            [*own.prefix, str(own.bin / "pg_ctl"), "-D", str(own.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_with_postgresql_stopped_under_load_answers_are_503_and_come_back_without_a_restart(cluster):
    url = f"postgres://postgres@127.0.0.1:{cluster.port}/postgres"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "SALESTRACK_ENV": "test",
        "DEBUG": "false",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    web_port = _free_port()
    base = f"http://127.0.0.1:{web_port}"
    web = _start_web(env, web_port, cluster.data.parent / "web.log")
    try:
        browser = _signed_in(base, "boss")
        created = subprocess.run(
            [*manage, "drf_create_token", "boss"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        token = re.search(r"\b[0-9a-f]{40}\b", created.stdout).group()
        answers: list[tuple[str, float, int, str, str]] = []
        phase = ["up"]
        stop = threading.Event()

        def load(get):
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = get()
                except requests.RequestException as exc:
                    answers.append((phase[0], time.monotonic() - started, 0, type(exc).__name__, ""))
                    continue
                answers.append(
                    (
                        phase[0],
                        time.monotonic() - started,
                        response.status_code,
                        response.headers.get("Content-Type", ""),
                        response.headers.get("Retry-After", ""),
                    )
                )
                time.sleep(0.02)

        page = threading.Thread(target=load, args=(lambda: browser.get(f"{base}/admin/", timeout=10),))
        api = threading.Thread(
            target=load,
            args=(
                lambda: requests.get(
                    f"{base}/api/v1/stages/", headers={"Authorization": f"Token {token}"}, timeout=10
                ),
            ),
        )
        page.start()
        api.start()
        time.sleep(1)
        phase[0] = "stopping"
        cluster.stop()
        phase[0] = "down"
        time.sleep(2)
        phase[0] = "starting"
        cluster.start()
        phase[0] = "back"
        _wait(
            lambda: sum(1 for answer in answers if answer[0] == "back" and answer[2] == 200) >= 10,
            "the web process did not come back",
        )
        stop.set()
        page.join()
        api.join()
        assert web.poll() is None, "the web process stayed up"
    finally:
        _stop(web)

    by_phase = {
        name: Counter(answer[2] for answer in answers if answer[0] == name)
        for name in ("up", "stopping", "down", "starting", "back")
    }
    assert set(by_phase["up"]) == {200}, by_phase
    down = [answer for answer in answers if answer[0] == "down"]
    assert down and {answer[2] for answer in down} == {503}, by_phase
    assert all(re.fullmatch(r"[1-9]\d*", answer[4]) for answer in down), "a 503 without Retry-After"
    kinds = {answer[3].split(";")[0] for answer in down}
    assert kinds == {"text/html", "application/json"}, kinds
    assert max(answer[1] for answer in down) < FAST
    # Around the stop and the start an answer is 200 or 503, never a 500 or a dropped connection.
    assert all(code in (200, 503) for name in by_phase for code in by_phase[name]), by_phase
    assert by_phase["back"][200] >= 10
    first_back = next(n for n, answer in enumerate(answers) if answer[0] == "back" and answer[2] == 200)
    assert all(answer[2] == 200 for answer in answers[first_back:] if answer[0] == "back"), by_phase
    print(
        "postgresql stopped under load: "
        + "; ".join(f"{name} {dict(counter)}" for name, counter in by_phase.items() if counter)
        + f"; slowest 503 {max(answer[1] for answer in down) * 1000:.0f} ms; the same web process after"
    )
