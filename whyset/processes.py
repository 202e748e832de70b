"""Local server processes whyset starts and stops (each annotator's Label Studio, the llama.cpp server): a free
loopback port, waiting until a new server answers, a recorded PID trusted only while it is still the same
process, and a stop by that PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from whyset.errors import ServerUnreachable, WhysetError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(process: subprocess.Popen, answers: Callable[[], bool], name: str, url: str, timeout: float,
                  log: Path, poll: float = 0.5) -> None:
    """Return once ``answers()``; raise with the log's last line when the process exits first, or
    :class:`ServerUnreachable` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise WhysetError(f"{name} exited with code {process.returncode} during start-up: {tail[0]} "
                              f"(log: {log})")
        if answers():
            return
        time.sleep(poll)
    raise ServerUnreachable(f"{name} did not answer at {url} within {timeout:.0f} s (log: {log})")


def same_process(pid: int | None, started: float | None, marker: str) -> bool:
    """Whether ``pid`` is still the process whyset recorded: alive (not a zombie), started at ``started`` (to
    the second) and with ``marker`` in its command line. A PID reused by another process is never trusted,
    let alone signalled."""
    if pid is None or started is None:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started) < 1.0 and any(marker in part for part in process.cmdline())
    except psutil.Error:
        return False


def terminate(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the process group of ``pid`` (servers are started in a session of their own), then SIGKILL
    after ``grace`` seconds; a process that was this one's child is reaped."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(pid):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return
            time.sleep(0.2)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def install_venv(venv: Path, requirement: str, stamp: Path, program: Path, env: dict[str, str] | None = None) -> None:
    """A server's own virtual env with one pinned ``requirement``; idempotent: done when ``stamp`` (written
    last) and the ``program`` it provides both exist."""
    if stamp.exists() and program.exists():
        return
    python = venv / "bin" / "python"
    for step in ([sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement]):
        done = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WhysetError(f"installing {requirement} into {venv} failed: {tail[0]}")
    stamp.touch()
