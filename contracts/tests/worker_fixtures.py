"""A real Celery worker for tests: ``celery -A fleet worker`` in a subprocess, on a queue of its own, against the
test database, with RabbitMQ as the broker.

The worker runs the project's production settings module (``fleet.settings``: tasks go through the broker; the test
settings run them eagerly) with the test database's name in ``DATABASE_URL``, so it sees what the test committed
(use ``transactional_db``). Every run of the tests takes a fresh queue name, purged before and after and then
deleted, and the worker publishes the tasks it queues itself (a run's batches, deliveries) to that same queue
(``task.default_queue`` on its command line), so no message of another run or another worker on the same broker
ever reaches it. The worker and its pool processes form one process group, killed on teardown whatever happened.
RabbitMQ redelivers a killed worker's unacknowledged messages as soon as its connection drops (tasks are
``acks_late``), which is what a test of a killed worker needs; Redis would wait for its visibility timeout.

Import the fixture into a test module (``from contracts.tests.worker_fixtures import celery_worker_fixture``) and
take ``celery_worker`` as an argument.
"""

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
READY_TIMEOUT = 60.0
RECEIVED = re.compile(r"Task (\S+)\[([0-9a-f-]+)\] received")
SUCCEEDED = re.compile(r"Task (\S+)\[([0-9a-f-]+)\] succeeded")
FAILED = re.compile(r"Task (\S+)\[([0-9a-f-]+)\] raised unexpected")


def broker_problem(url: str) -> str:
    """Why the broker cannot be used ("" when it can)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # noqa: BLE001 - any failure means: skip
        return f"{type(error).__name__}: {error}"
    return ""


def database_url_for_worker() -> str:
    """A URL of the database this test process uses (the test database pytest-django created)."""
    from django.db import connection

    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


class Worker:
    """One ``celery worker`` process group and its log."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tasks(self, pattern: re.Pattern, name: str = "") -> list[str]:
        """Ids of the tasks (of ``name``, or any) the log shows as received, succeeded or failed."""
        return [task_id for task, task_id in pattern.findall(self.log()) if not name or task == name]

    def kill(self) -> None:
        """SIGKILL the whole process group (the main process and its pool), at once."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class CeleryWorkers:
    """Start workers on this run's queue, send tasks to it, look at the queue; everything is killed on teardown."""

    def __init__(self, *, queue: str, directory: Path):
        from celery import Celery

        self.queue = queue
        self.directory = directory
        self.workers: list[Worker] = []
        self.sender = Celery(f"sender-{queue}", broker=BROKER_URL, set_as_current=False)
        self.sender.conf.task_default_queue = queue
        self.sender.conf.task_serializer = "json"

    def environment(self, **extra: str) -> dict[str, str]:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fleet.settings",  # the test settings run tasks eagerly
            "SECRET_KEY": "worker-test-" + secrets.token_hex(16),
            "DEBUG": "0",
            "STATIC_MANIFEST": "0",
            "DATABASE_URL": database_url_for_worker(),
            "CELERY_BROKER_URL": BROKER_URL,
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MEDIA_ROOT": str(self.directory / "media"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        environment.update(extra)
        return environment

    def start(self, *, concurrency: int = 3, **env: str) -> Worker:
        """A worker of ``concurrency`` prefork processes on the queue, once it says it is ready."""
        number = len(self.workers) + 1
        log_path = self.directory / f"worker-{number}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "fleet", "worker", "--pool=prefork", f"--concurrency={concurrency}",
            "-Q", self.queue, "-n", f"{self.queue}-{number}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=INFO", "--", f"task.default_queue={self.queue}",
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=ROOT,
                env=self.environment(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in worker.log():
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited ({process.returncode}):\n{worker.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker was not ready in {READY_TIMEOUT:.0f} s:\n{worker.log()[-4000:]}")
            time.sleep(0.1)
        return worker

    def send(self, task: str, *args) -> str:
        return self.sender.send_task(task, args=list(args), queue=self.queue).id

    def waiting(self) -> int:
        """Messages ready in the queue (not those a worker holds)."""
        with self.sender.connection_for_write() as connection:
            _name, count, _consumers = connection.default_channel.queue_declare(queue=self.queue, passive=True)
        return count

    def purge(self, *, delete: bool = False) -> None:
        from kombu import Exchange, Queue

        with self.sender.connection_for_write() as connection:
            channel = connection.default_channel
            # Declared as Celery declares its default queue, so that a worker's later declaration matches.
            Queue(self.queue, Exchange(self.queue, type="direct"), routing_key=self.queue)(channel).declare()
            channel.queue_purge(self.queue)
            if delete:
                channel.queue_delete(self.queue)

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        try:
            self.purge(delete=True)
        finally:
            self.sender.close()


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "") -> object:
    """Poll ``condition`` until it returns something true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


@pytest.fixture(name="celery_worker")
def celery_worker_fixture(transactional_db, tmp_path):
    """A ``CeleryWorkers`` on a fresh queue; skips when the database is not PostgreSQL or the broker is down."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs the test database on PostgreSQL (set DATABASE_URL)")
    problem = broker_problem(BROKER_URL)
    if problem:
        pytest.skip(f"RabbitMQ at {BROKER_URL} is unreachable: {problem}")
    workers = CeleryWorkers(queue=f"billing-test-{uuid.uuid4().hex[:12]}", directory=tmp_path)
    workers.purge()
    try:
        yield workers
    finally:
        workers.close()
