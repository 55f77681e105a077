"""Detect engines a learner may not have: a Docker engine, a Kubernetes cluster, the Prometheus stack.

Each check returns True only when the engine actually answers, not merely when a client
binary is installed (a ``docker`` CLI with no daemon behind it returns False).
"""
from __future__ import annotations

import shutil
import subprocess

_TIMEOUT_S = 8


def _answers(command: list[str]) -> bool:
    """True when the command exists and exits 0 within the timeout."""
    if shutil.which(command[0]) is None:
        return False
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def has_docker() -> bool:
    """A Docker engine is reachable (``docker info`` succeeds)."""
    return _answers(["docker", "info", "--format", "{{.ServerVersion}}"])


def has_kubernetes() -> bool:
    """A cluster the learner configured is reachable and ready: the kubeconfig (``$KUBECONFIG``,
    else ``~/.kube/config``) names a current context, and ``kubectl get --raw /readyz`` succeeds.

    Without a current context kubectl would fall back to ``localhost:8080``, or to the service
    account of the pod it runs in (on Binder, the hosting cluster): neither is the learner's
    cluster, so no request is sent at all."""
    return (_answers(["kubectl", "config", "current-context"])
            and _answers(["kubectl", "get", "--raw", "/readyz", "--request-timeout=5s"]))


# The Prometheus stack's binaries: Debian and Binder (apt) name them ``prometheus-<component>``,
# Homebrew and the upstream tarballs use the bare name. ``prometheus`` and ``promtool`` are the same
# everywhere.
PROMETHEUS_BINARIES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
    "pushgateway": ("prometheus-pushgateway", "pushgateway"),
    "node_exporter": ("prometheus-node-exporter", "node_exporter"),
}


def prometheus_binary(component: str) -> str | None:
    """The path of a Prometheus-stack binary (``"alertmanager"``, ``"pushgateway"``, ...) that
    runs (``--version`` exits 0), under whichever name this machine installed it; else None."""
    for name in PROMETHEUS_BINARIES[component]:
        path = shutil.which(name)
        if path is not None and _answers([path, "--version"]):
            return path
    return None


def has_prometheus() -> bool:
    """A Prometheus server binary is installed and runs (``prometheus --version``)."""
    return prometheus_binary("prometheus") is not None


def has_promtool() -> bool:
    """``promtool`` (checks configs and rules, unit-tests alert rules) is installed and runs."""
    return prometheus_binary("promtool") is not None


def has_alertmanager() -> bool:
    """An Alertmanager binary is installed and runs."""
    return prometheus_binary("alertmanager") is not None


def has_pushgateway() -> bool:
    """A Pushgateway binary is installed and runs."""
    return prometheus_binary("pushgateway") is not None


def skip_message(engine: str, what: str) -> str:
    """The plain sentence a notebook prints when it skips a step for want of an engine."""
    return (
        f"Skipped: {what}. No {engine} is usable on this machine, so this step did not run; "
        f"run this notebook where {engine} is available to see its real output."
    )
