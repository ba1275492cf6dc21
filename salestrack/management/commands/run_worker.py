"""Run a Celery worker and replace it when it stops answering while the broker answers.

kombu 5.7 has a known failure (celery/celery#10205): a worker that holds a message when Redis
goes away can end with "Unrecoverable error: AttributeError" and then neither exit nor consume,
so no restart policy ever sees it fail. This command is the worker's own supervisor, so every
deployment (Docker Compose, systemd, a plain shell) heals without an outside health checker:

- it starts `celery -A salestrack worker` with a known node name, in a process group of its own;
- every --ping-every seconds it pings that node through the broker; a miss counts only while the
  broker itself answers (with Redis down, waiting is the worker's right answer);
- after --misses misses in a row it kills the worker's whole group and starts a new one;
- a worker that exits by itself is started again (after a pause that grows to 30 s);
- SIGTERM or SIGINT is passed on as the worker's warm shutdown; the command then exits.

Nothing is lost by a replacement: the work the engine and the imports still owe is kept as rows
in the database (changed-day marks, queued import jobs) and sent again by the housekeeping.

    python manage.py run_worker -- --loglevel=INFO --concurrency=2
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("salestrack.workers")

# The longest pause before starting again a worker that keeps exiting by itself (seconds).
MAX_RESTART_PAUSE = 30.0
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """In the worker, before it starts: a warm shutdown (SIGTERM) if this supervisor dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run a Celery worker; replace it when it stops answering pings while the broker answers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--ping-every",
            type=float,
            default=settings.SALESTRACK_WORKER_PING_SECONDS,
            help="seconds between two pings of the worker (SALESTRACK_WORKER_PING_SECONDS)",
        )
        parser.add_argument(
            "--misses",
            type=int,
            default=settings.SALESTRACK_WORKER_PING_MISSES,
            help="pings missed in a row, with the broker answering, before the worker is replaced "
            "(SALESTRACK_WORKER_PING_MISSES)",
        )
        parser.add_argument(
            "--node",
            default=f"celery@{socket.gethostname()}",
            help="the worker's node name (celery's --hostname); default celery@<this host>",
        )
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=60.0,
            help="seconds a worker has to finish its tasks on shutdown before it is killed",
        )
        parser.add_argument("worker_args", nargs="*", help="more arguments for `celery worker`, after --")

    def handle(self, *args, ping_every, misses, node, stop_timeout, worker_args, **options):
        if not settings.REDIS_URL:
            raise CommandError(
                "run_worker needs a broker: set REDIS_URL (without it, tasks run in the web process)"
            )
        if ping_every <= 0 or misses < 1:
            raise CommandError("--ping-every must be above 0 and --misses at least 1")
        if any(arg in ("-n", "--hostname") or arg.startswith("--hostname=") for arg in worker_args):
            raise CommandError("give the worker's name with --node, not in the worker's arguments")
        Supervisor(node, worker_args, ping_every, misses, stop_timeout).run()


class Supervisor:
    def __init__(
        self, node: str, worker_args: list[str], ping_every: float, misses: int, stop_timeout: float
    ):
        self.node, self.worker_args = node, worker_args
        self.ping_every, self.misses, self.stop_timeout = ping_every, misses, stop_timeout
        # A ping waits at most this long for its answer: 5 s, or less for frequent pings.
        self.ping_timeout = min(5.0, max(0.5, ping_every))
        self.stopping = threading.Event()
        self.worker: subprocess.Popen | None = None
        self.broker = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )

    # --- the worker process ---------------------------------------------------------------

    def start(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "salestrack", "worker", f"--hostname={self.node}"]
        self.worker = subprocess.Popen(
            [*command, *self.worker_args], start_new_session=True, preexec_fn=_stop_with_parent
        )
        logger.info("worker %s started (pid %d)", self.node, self.worker.pid)

    def kill_group(self) -> None:
        """SIGKILL to the worker and its pool processes (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)

    def kill(self) -> None:
        self.kill_group()
        self.worker.wait()

    def shutdown(self) -> int:
        """Warm shutdown: the worker finishes its tasks, or is killed after the stop timeout."""
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("worker %s did not stop within %.0f s: killed", self.node, self.stop_timeout)
                self.kill()
        self.kill_group()  # pool processes left behind by a worker that died
        return 0

    # --- health ----------------------------------------------------------------------------

    def broker_answers(self) -> bool:
        try:
            return bool(self.broker.ping())
        except redis.RedisError:
            return False

    def worker_answers(self) -> bool:
        from salestrack.celery import app

        try:
            with app.connection_for_write() as connection:
                replies = app.control.ping(
                    destination=[self.node], timeout=self.ping_timeout, connection=connection
                )
        except Exception:  # noqa: BLE001 - whatever the broker connection raised: no answer
            return False
        return any(self.node in reply for reply in replies)

    # --- the loop ----------------------------------------------------------------------------

    def sleep(self, seconds: float, worker_exit: bool = True) -> bool:
        """Wait, in short steps; True once asked to stop. A worker's exit ends the wait early."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping.wait(min(left, 0.25)):
                return True
            if worker_exit and self.worker.poll() is not None:
                break
        return self.stopping.is_set()

    def run(self) -> None:
        def stop(signum, frame):
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.start()
        missed, exits = 0, 0
        while not self.sleep(self.ping_every):
            code = self.worker.poll()
            if code is not None:
                exits += 1
                pause = min(MAX_RESTART_PAUSE, 2.0 ** (exits - 1))
                logger.warning(
                    "worker %s exited with code %s: starting it again in %.0f s", self.node, code, pause
                )
                self.shutdown()  # its pool processes, if any are left
                if self.sleep(pause, worker_exit=False):
                    break
                self.start()
                missed = 0
                continue
            if not self.broker_answers():
                missed = 0  # the broker is down: the worker reconnects once it is back
                continue
            if self.worker_answers():
                missed, exits = 0, 0
                continue
            missed += 1
            if missed >= self.misses:
                logger.error(
                    "worker %s missed %d pings in a row while the broker answers: replacing it",
                    self.node,
                    missed,
                )
                self.kill()
                self.start()
                missed = 0
        logger.info("stopping worker %s", self.node)
        self.shutdown()
