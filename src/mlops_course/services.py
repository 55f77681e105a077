"""Run a local service (uvicorn, ``mlflow server``, ``mlflow models serve`` ...) for a notebook.

``start_service`` starts the command on a free loopback port, waits until it answers a
health check, and makes sure it is stopped, with all its children, when you call
``stop()``, leave a ``with`` block, or the kernel shuts down.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mlops_course.workspace import show_path

_RUNNING: list[Service] = []


class ServiceError(RuntimeError):
    """A service did not come up; the message ends with the last lines of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to stop it if the kernel process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: atexit still stops the service on a normal shutdown


def _log_tail(log_path: Path, lines: int = 25) -> str:
    if not log_path.exists():
        return "(no log was written)"
    text = log_path.read_text(errors="replace").rstrip().splitlines()
    return "\n".join(text[-lines:]) or "(the log is empty)"


@dataclass
class Service:
    """A running local service: its name, port, process and log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log(self, lines: int = 25) -> str:
        """The last lines of the service's log."""
        return _log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the service and every process it started (its whole process group)."""
        if self._stopped:
            return
        self._stopped = True
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                # the leader is gone; make sure no child in its group lingers
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        if self in _RUNNING:
            _RUNNING.remove(self)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<Service {self.name} {state} on {self.host}, log {show_path(self.log_path)}>"


def start_service(
    command: Sequence[str],
    *,
    name: str,
    port: int,
    log_path: str | os.PathLike[str],
    health_path: str = "/health",
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Service:
    """Start ``command`` (which must listen on ``port``) and wait until ``health_path`` answers 200.

    Raises ``ServiceError`` with the end of the service's log if it exits or does not
    answer within ``timeout`` seconds.
    """
    log_file = Path(log_path)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches its children
            preexec_fn=die_with_parent,
        )
    service = Service(name=name, port=port, process=process, log_path=log_file)
    _RUNNING.append(service)
    deadline = time.monotonic() + timeout
    health_url = service.url + health_path
    while time.monotonic() < deadline:
        if process.poll() is not None:
            service.stop()
            raise ServiceError(
                f"{name} exited with code {process.returncode} before it answered {health_path}. "
                f"Last lines of its log ({show_path(log_file)}):\n{_log_tail(log_file)}"
            )
        try:
            if httpx.get(health_url, timeout=2.0).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise ServiceError(
        f"{name} did not answer {health_path} on port {port} within {timeout:.0f} s. "
        f"Last lines of its log ({show_path(log_file)}):\n{_log_tail(log_file)}"
    )


def stop_all() -> None:
    """Stop every service this kernel started (runs automatically at shutdown)."""
    for service in list(_RUNNING):
        service.stop()


atexit.register(stop_all)
