"""``perfhud up``: the whole platform on embedded defaults, in one terminal.

It upgrades the store, starts the web app and one worker pinned to the machine's last core as
child processes, and on first start runs the demo. Ctrl-C (or SIGTERM) stops every child
process group and waits for it, so nothing is left running; the data directory keeps the store,
the broker and the repository cache, so the next ``perfhud up`` resumes where this one stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import click

from perfhud.cli import settings_or_exit

_STOP_GRACE_S = 15.0


@dataclass
class Supervisor:
    """Child processes, each in its own process group so a stop reaches their children too."""

    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(argv, start_new_session=True)

    def exited(self) -> list[tuple[str, int]]:
        return [(n, p.returncode) for n, p in self.children.items() if p.poll() is not None]

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _wait_for_http(url: str, supervisor: Supervisor, stop: threading.Event, timeout_s: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        if supervisor.exited():
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.5)
    return False


def default_worker_cores() -> str:
    """The machine's last core: the web app and the OS keep the others."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return str(cores[-1])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the dashboard listens on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Dashboard port.")
@click.option("--worker-cores", default=None, help="Cores of the local benchmark worker [default: the last core].")
@click.option("--demo/--no-demo", default=True, show_default=True, help="On first start, create and backfill the demo repository.")
def up(host: str, port: int, worker_cores: str | None, demo: bool) -> None:
    """Set up the embedded store and run web, worker and demo (Ctrl-C stops all)."""
    from db.migrate import upgrade

    settings = settings_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    click.echo(f"store ready: {settings.database_url}")
    click.echo(f"broker: {'embedded (SQLite)' if settings.is_embedded_broker else settings.broker_url}")

    cli = [sys.executable, "-m", "perfhud.cli"]
    supervisor = Supervisor()
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        supervisor.start("web", [*cli, "web", "--host", host, "--port", str(port)])
        supervisor.start("worker", [*cli, "worker", "--host", "local", "--cores", worker_cores or default_worker_cores()])
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
        if not _wait_for_http(url + "healthz", supervisor, stop):
            if stop.is_set():
                return
            dead = ", ".join(f"{n} exited with {rc}" for n, rc in supervisor.exited()) or "no answer in 90 s"
            raise click.ClickException(f"the dashboard did not start ({dead})")
        click.echo(f"dashboard: {url}")
        if demo:
            from perfhud.demo import ensure_demo

            message = ensure_demo(settings)
            click.echo(message)
        click.echo("press Ctrl-C to stop")
        while not stop.is_set():
            dead = supervisor.exited()
            if dead:
                raise click.ClickException(", ".join(f"{n} exited with status {rc}" for n, rc in dead))
            stop.wait(0.5)
        click.echo("stopping web and worker")
    finally:
        supervisor.stop()
    click.echo("stopped; data kept in " + str(settings.data_dir))


@click.command()
def demo() -> None:
    """Make a demo repository with a planted regression and backfill it."""
    from db.migrate import upgrade
    from perfhud.demo import ensure_demo

    settings = settings_or_exit()
    upgrade(settings.database_url)
    click.echo(ensure_demo(settings))
