"""Lab 10 (monitoring): what the tests use to run a learner's service and the Prometheus stack.

- ``MODEL_SOURCE`` and ``write_model(folder)``: the small churn model (``model.py``) the lab's
  service serves. It is given, not graded: the grader writes its own copy next to the learner's
  ``app.py``.
- ``running_app(folder, wrap=)``: start ``uvicorn app:app`` in ``folder`` on a free loopback port
  (through ``wrap``, the learner's sandbox when grading), yield an ``httpx.Client``, always stop it.
- ``metric_families(text)``: Prometheus's text format parsed by ``prometheus_client.parser`` into
  plain data, on the grader's side (the text is data, never code).
- ``traffic_openmetrics(...)``, ``build_tsdb(...)``, ``running_prometheus(...)``, ``query(...)``:
  a known traffic of the service as an OpenMetrics file, turned into a TSDB block by
  ``promtool tsdb create-blocks-from openmetrics``, served by a real Prometheus, and PromQL
  evaluated over its HTTP API at a fixed time.
- ``strip_annotations(rules)`` and ``promtool_test(...)``: run ``promtool test rules`` on a rules
  file with unit-test cases, one file per case, and report which ones failed.
- ``running_pushgateway(folder)`` and ``pushed_groups(url, names)``: a real Pushgateway and what it
  holds, read from its ``/metrics``.
- ``try_queries(queries)``: for the learner, the lab's practice traffic in a Prometheus, each query's
  value at the stated time.

Nothing here holds a hidden input or an expected value: those stay in the test cells.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from mlops_course.engines import prometheus_binary, skip_message
from mlops_course.grading.app_process import AppDidNotStart, no_wrap, reason_from_log
from mlops_course.services import Service, die_with_parent, free_port, start_service
from mlops_course.workspace import show_path

Wrap = Callable[[list[str]], list[str]]

# ----------------------------------------------------------------------------------------------
# The service's model (given)
# ----------------------------------------------------------------------------------------------

MODEL_SOURCE = '''\
"""The churn model the service serves (given: do not change it)."""
import math
import time

FIELDS = ("tenure_months", "monthly_charges", "support_calls")


def predict(record):
    """The churn probability of one customer record; ValueError for a record it cannot score."""
    if not isinstance(record, dict) or sorted(record) != sorted(FIELDS):
        raise ValueError(f"a record needs exactly the fields {list(FIELDS)}")
    values = [record[name] for name in FIELDS]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError("every field must be a number >= 0")
    time.sleep(0.02)  # the model takes about 20 ms per record
    tenure, charges, calls = values
    z = -1.5 - 0.04 * tenure + 0.015 * charges + 0.35 * calls
    return round(1 / (1 + math.exp(-z)), 6)
'''


def write_model(folder: str | os.PathLike[str]) -> Path:
    """Write the given ``model.py`` into ``folder``."""
    path = Path(folder) / "model.py"
    path.write_text(MODEL_SOURCE)
    return path


# ----------------------------------------------------------------------------------------------
# The learner's app, as a process of its own
# ----------------------------------------------------------------------------------------------

_LAUNCH = ("import os, sys; os.chdir(sys.argv[1]); sys.path.insert(0, sys.argv[1]); "
           "sys.argv = ['uvicorn', *sys.argv[2:]]; from uvicorn.main import main; main()")


@contextmanager
def running_app(folder: str | os.PathLike[str] = ".", *, wrap: Wrap | None = None,
                timeout: float = 40.0) -> Iterator[httpx.Client]:
    """Start ``uvicorn app:app`` in ``folder``, yield a client on its URL, always stop it."""
    where = Path(folder).resolve()
    if not (where / "app.py").is_file():
        raise AppDidNotStart(f"There is no app.py in {show_path(where)}: run the cell that writes it "
                             "(%%writefile app.py).")
    port = free_port()
    argv = [sys.executable, "-c", _LAUNCH, str(where), "app:app", "--app-dir", str(where),
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log_path = where / "logs" / "uvicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen((wrap or no_wrap)(argv), cwd=where, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_parent)
    service = Service(name="lab10-app", port=port, process=process, log_path=log_path)
    try:
        deadline, problem = time.monotonic() + timeout, f"it did not answer HTTP within {timeout:.0f} s"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                problem = f"it exited with code {process.returncode}"
                break
            try:
                httpx.get(service.url + "/__grader_ready__", timeout=2.0)
                problem = None
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        if problem is not None:
            raise AppDidNotStart(f"Your app.py did not start with `uvicorn app:app` ({problem}): "
                                 f"{reason_from_log(log_path, 'the log is empty')}. The whole log is in {show_path(log_path)}.")
        with httpx.Client(base_url=service.url, timeout=15.0, follow_redirects=True) as client:
            yield client
    finally:
        service.stop()


def metric_families(text: str) -> dict[str, dict[str, Any]]:
    """Prometheus's text format as plain data: ``{family: {"type": ..., "samples": [[name, labels, value]]}}``.

    Raises ``AssertionError`` with a readable message when the text does not parse."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # noqa: BLE001 - any parse error is the same finding
        raise AssertionError(f"GET /metrics did not answer Prometheus's text format ({type(error).__name__}: "
                             f"{str(error)[:200]}); serve prometheus_client's generate_latest() with its "
                             "CONTENT_TYPE_LATEST, or mount make_asgi_app()") from None
    return {family.name: {"type": family.type,
                          "samples": [[s.name, dict(s.labels), float(s.value)] for s in family.samples]}
            for family in families}


def scrape(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """``GET /metrics`` of a running app, parsed (``metric_families``)."""
    reply = client.get("/metrics")
    assert reply.status_code == 200, f"GET /metrics answered {reply.status_code}, expected 200: {reply.text[:200]}"
    return metric_families(reply.text)


def family_of(families: Mapping[str, Mapping[str, Any]], sample_name: str) -> tuple[str, Mapping[str, Any]] | None:
    """The family that exposes a sample called ``sample_name`` (``churn_requests_total`` belongs
    to the counter family ``churn_requests``), or None."""
    for name, family in families.items():
        if any(sample[0] == sample_name for sample in family["samples"]):
            return name, family
    return None


# ----------------------------------------------------------------------------------------------
# Known traffic in a real Prometheus
# ----------------------------------------------------------------------------------------------

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def traffic_openmetrics(*, start: float, minutes: int, instances: Mapping[str, Mapping[str, Any]],
                        seed: int, step: float = 15.0) -> str:
    """The churn service's metrics, scraped every ``step`` seconds from several instances, as
    OpenMetrics text with timestamps.

    ``instances`` maps an instance name to its traffic: ``rps`` (requests per second to /predict,
    one number or a list with one value per minute), ``health_rps``, ``client_errors`` and
    ``server_errors`` (the shares of /predict requests answered 422, and 500 or 503), and
    ``latency`` (the median /predict duration in seconds). Counts are drawn with ``seed``."""
    return traffics_openmetrics([{"start": start, "minutes": minutes, "instances": instances, "seed": seed,
                                  "step": step}])


def _collect(counters: dict, buckets: dict, *, start: float, minutes: int,
             instances: Mapping[str, Mapping[str, Any]], seed: int, step: float = 15.0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    steps = int(minutes * 60 / step)
    for instance, spec in instances.items():
        rps = spec["rps"]
        per_minute = list(rps) if isinstance(rps, (list, tuple)) else [rps] * minutes
        totals = {status: 0 for status in ("200", "422", "500", "503")}
        health = 0
        cumulative, count, total_seconds = [0] * (len(BUCKETS) + 1), 0, 0.0
        for i in range(steps + 1):
            ts = start + i * step
            if i:
                rate = per_minute[min(int((i - 1) * step // 60), len(per_minute) - 1)]
                n = int(rng.poisson(rate * step))
                server = float(spec.get("server_errors", 0.0))
                client = float(spec.get("client_errors", 0.0))
                split = rng.multinomial(n, [1 - server - client, client, server / 2, server / 2])
                for status, k in zip(("200", "422", "500", "503"), split):
                    totals[status] += int(k)
                health += int(rng.poisson(float(spec.get("health_rps", 0.2)) * step))
                durations = rng.lognormal(math.log(float(spec.get("latency", 0.04))), 0.6, n)
                for j, bound in enumerate(BUCKETS):
                    cumulative[j] += int((durations <= bound).sum())
                cumulative[-1] += n
                count += n
                total_seconds += float(durations.sum())
            for status, value in totals.items():
                counters.setdefault((instance, "/predict", status), []).append((ts, value))
            counters.setdefault((instance, "/health", "200"), []).append((ts, health))
            buckets.setdefault((instance, "/predict"), []).append((ts, list(cumulative), count, total_seconds))


def traffics_openmetrics(specs: Sequence[Mapping[str, Any]]) -> str:
    """Several traffics (each the keyword arguments of ``traffic_openmetrics``; an ``at`` key is
    ignored) in one OpenMetrics text, so that one TSDB holds them all. Give them instance names or
    time spans of their own."""
    counters: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    buckets: dict[tuple[str, str], list[tuple[float, list[int], int, float]]] = {}
    for spec in sorted(specs, key=lambda spec: spec["start"]):
        _collect(counters, buckets, **{k: v for k, v in spec.items() if k != "at"})
    lines = ["# HELP churn_requests Requests answered, by endpoint and status code.",
             "# TYPE churn_requests counter"]
    for (instance, endpoint, status), points in counters.items():
        labels = _labels(job="churn", instance=instance, endpoint=endpoint, status=status)
        lines += [f"churn_requests_total{labels} {value} {ts:.3f}" for ts, value in points]
    lines += ["# HELP churn_request_duration_seconds Time to answer a request.",
              "# TYPE churn_request_duration_seconds histogram"]
    for (instance, endpoint), points in buckets.items():
        for ts, cumulative, count, total_seconds in points:
            for bound, value in zip([*map(str, BUCKETS), "+Inf"], cumulative):
                labels = _labels(job="churn", instance=instance, endpoint=endpoint, le=bound)
                lines.append(f"churn_request_duration_seconds_bucket{labels} {value} {ts:.3f}")
            labels = _labels(job="churn", instance=instance, endpoint=endpoint)
            lines.append(f"churn_request_duration_seconds_count{labels} {count} {ts:.3f}")
            lines.append(f"churn_request_duration_seconds_sum{labels} {total_seconds:.6f} {ts:.3f}")
    return "\n".join(lines) + "\n# EOF\n"


def traffic_tsdb(specs: Sequence[Mapping[str, Any]], folder: str | os.PathLike[str]) -> Path:
    """A TSDB holding the traffics ``specs`` (``traffics_openmetrics``), built once under ``folder``
    and reused by later calls with the same specs."""
    import hashlib

    key = hashlib.sha256(json.dumps(list(specs), sort_keys=True).encode()).hexdigest()[:16]
    target = Path(folder) / key
    if not (target / "built").is_file():
        build_tsdb(traffics_openmetrics(specs), target)
        (target / "built").write_text("ok\n")
    return target / "tsdb"


def _run(argv: list[str], what: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit code {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    return done


def engine(component: str) -> str:
    """The path of a Prometheus-stack binary; an ``AssertionError`` that says what to install if it is missing."""
    path = prometheus_binary(component)
    package = {"prometheus": "prometheus", "promtool": "prometheus",
               "pushgateway": "prometheus-pushgateway"}.get(component, component)
    assert path is not None, (
        f"{component} is not installed on this machine, so this test cannot run. Install it "
        f"(Debian/Ubuntu: `sudo apt-get install {package}`; macOS: `brew install {component}`) and run the "
        "lab again. The grader (and CI, and Binder) has it.")
    return path


def build_tsdb(openmetrics_text: str, folder: str | os.PathLike[str]) -> Path:
    """Write the OpenMetrics text into ``folder`` and turn it into a TSDB block with
    ``promtool tsdb create-blocks-from openmetrics``; returns the TSDB folder."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source = folder / "traffic.om.txt"
    source.write_text(openmetrics_text)
    tsdb = folder / "tsdb"
    _run([engine("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
         "promtool tsdb create-blocks-from openmetrics")
    return tsdb


@contextmanager
def running_prometheus(tsdb: str | os.PathLike[str]) -> Iterator[str]:
    """A real Prometheus serving the TSDB at ``tsdb`` (nothing to scrape); yields its URL."""
    tsdb = Path(tsdb)
    config = tsdb.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    service = start_service([engine("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"],
                            name="prometheus", port=port, log_path=tsdb.parent / "prometheus.log",
                            health_path="/-/ready", timeout=30)
    try:
        yield service.url
    finally:
        service.stop()


def query(url: str, promql: str, at: float) -> dict[str, Any]:
    """Evaluate ``promql`` at the Unix time ``at`` over Prometheus's HTTP API.

    Returns ``{"error": message}``, or ``{"type": "vector" | "scalar" | ..., "samples": [[labels, value]]}``."""
    if not isinstance(promql, str) or not promql.strip():
        return {"error": f"the query must be a non-empty string, got {promql!r}"[:200]}
    reply = httpx.post(f"{url}/api/v1/query", data={"query": promql, "time": f"{at:.3f}"}, timeout=20.0)
    body = reply.json()
    if body.get("status") != "success":
        return {"error": f"{body.get('errorType')}: {body.get('error')}"}
    data = body["data"]
    if data["resultType"] == "scalar":
        return {"type": "scalar", "samples": [[{}, float(data["result"][1])]]}
    if data["resultType"] == "vector":
        return {"type": "vector", "samples": [[dict(item["metric"]), float(item["value"][1])] for item in data["result"]]}
    return {"type": data["resultType"], "samples": []}


def close(got: float, want: float, rel: float = 1e-6) -> bool:
    """Whether two query results are the same number (NaN equals NaN)."""
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return abs(got - want) <= rel * max(abs(want), 1e-9)


def try_queries(queries: Mapping[str, str], *, practice: Mapping[str, Any], folder: str | os.PathLike[str]) -> None:
    """Print each query's value on the practice traffic (``practice``: the keyword arguments of
    ``traffic_openmetrics`` and ``at``, the time to evaluate at)."""
    if prometheus_binary("prometheus") is None or prometheus_binary("promtool") is None:
        print(skip_message("Prometheus (with promtool)", "evaluating your queries on the practice traffic"))
        return
    spec = dict(practice)
    at = spec.pop("at")
    tsdb = build_tsdb(traffic_openmetrics(**spec), folder)
    with running_prometheus(tsdb) as url:
        for name, text in queries.items():
            result = query(url, text, at)
            if "error" in result:
                print(f"{name}: error: {result['error']}")
                continue
            shown = [f"{labels or '{}'} {value:.6g}" for labels, value in result["samples"]]
            print(f"{name} ({result['type']}, {len(shown)} series): " + ("; ".join(shown[:6]) or "empty"))


# ----------------------------------------------------------------------------------------------
# Alerting rules under promtool
# ----------------------------------------------------------------------------------------------

def strip_annotations(rules: Any) -> Any:
    """A copy of a rules document (parsed YAML) without alert annotations: ``promtool test rules``
    compares annotations word for word, and the lab leaves their text to the learner."""
    if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
        return rules
    groups = []
    for group in rules["groups"]:
        if isinstance(group, dict) and isinstance(group.get("rules"), list):
            group = {**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"}
                                        if isinstance(rule, dict) else rule for rule in group["rules"]]}
        groups.append(group)
    return {**rules, "groups": groups}


def check_rules(path: str | os.PathLike[str]) -> str | None:
    """``promtool check rules`` on a file: None when it passes, else promtool's complaint."""
    done = subprocess.run([engine("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode == 0:
        return None
    text = (done.stderr.strip() + "\n" + done.stdout.strip()).replace(str(Path(path).resolve()), Path(path).name)
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith(("Checking ", "FAILED"))]
    return " / ".join(dict.fromkeys(lines))[:600] or f"exit code {done.returncode}"


def promtool_test(rules_path: str | os.PathLike[str], cases: Mapping[str, Mapping[str, Any]],
                  folder: str | os.PathLike[str], evaluation_interval: str = "1m") -> dict[str, str | None]:
    """Run ``promtool test rules`` with one test file per case (a promtool test group: ``interval``,
    ``input_series``, ``alert_rule_test``); returns ``{case: None if it passed, else promtool's report}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, case in cases.items():
        path = folder / f"case_{name}.yml"
        path.write_text(json.dumps({"rule_files": [str(Path(rules_path).resolve())],
                                    "evaluation_interval": evaluation_interval, "tests": [dict(case)]}))
        files[name] = path
    done = subprocess.run([engine("promtool"), "test", "rules", *map(str, files.values())], capture_output=True,
                          text=True, timeout=120, check=False)
    report = done.stdout + "\n" + done.stderr
    results: dict[str, str | None] = {}
    for name, path in files.items():
        part = report.split(f"Unit Testing:  {path}", 1)
        if len(part) < 2:
            results[name] = f"promtool did not report on this case: {report.strip()[-400:]}"
            continue
        section = re.split(r"Unit Testing:  ", part[1], maxsplit=1)[0]
        results[name] = None if "SUCCESS" in section and "FAILED" not in section else section.strip()[:600]
    return results


# ----------------------------------------------------------------------------------------------
# The Pushgateway
# ----------------------------------------------------------------------------------------------

@contextmanager
def running_pushgateway(folder: str | os.PathLike[str]) -> Iterator[str]:
    """A real Pushgateway on a free loopback port (no persistence); yields its URL."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    service = start_service([engine("pushgateway"), f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            name="pushgateway", port=port, log_path=folder / "pushgateway.log",
                            health_path="/-/ready", timeout=30)
    try:
        yield service.url
    finally:
        service.stop()


def pushed_groups(url: str) -> list[dict[str, Any]]:
    """What a Pushgateway holds, from its ``/metrics``: one entry per pushed group,
    ``{"labels": {job, grouping labels}, "metrics": {name: {"type": ..., "value": ...}}}``.
    The gateway's own metrics (``push_time_seconds``, ``pushgateway_*``, ``go_*``, ``process_*``) are left out."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    families = metric_families(text)
    own = ("push_time_seconds", "push_failure_time_seconds")
    groups: dict[str, dict[str, Any]] = {}
    for name in families.get("push_time_seconds", {}).get("samples", []):
        key = json.dumps(name[1], sort_keys=True)
        groups.setdefault(key, {"labels": name[1], "metrics": {}})
    for family_name, family in families.items():
        if family_name in own or family_name.startswith(("pushgateway_", "go_", "process_", "promhttp_")):
            continue
        for sample_name, labels, value in family["samples"]:
            if "job" not in labels:
                continue
            matched = [g for g in groups.values() if all(labels.get(k) == v for k, v in g["labels"].items())]
            if not matched:
                continue
            target = max(matched, key=lambda g: len(g["labels"]))
            target["metrics"].setdefault(sample_name, {"type": family["type"], "value": value,
                                                       "labels": {k: v for k, v in labels.items()
                                                                  if k not in target["labels"]}})
    return list(groups.values())


__all__ = [
    "BUCKETS",
    "MODEL_SOURCE",
    "AppDidNotStart",
    "build_tsdb",
    "check_rules",
    "close",
    "counter_series",
    "engine",
    "family_of",
    "metric_families",
    "promtool_test",
    "pushed_groups",
    "query",
    "running_app",
    "running_prometheus",
    "running_pushgateway",
    "scrape",
    "strip_annotations",
    "traffic_openmetrics",
    "traffic_tsdb",
    "traffics_openmetrics",
    "try_queries",
    "write_model",
]




def counter_series(name: str, labels: Mapping[str, str], increments: Sequence[float]) -> dict[str, str]:
    """A promtool ``input_series`` entry for a counter that starts at 0 and grows by each of
    ``increments`` in turn (one per ``interval`` of the test)."""
    values, total = ["0"], 0.0
    for step in increments:
        total += step
        values.append(f"{total:g}")
    return {"series": name + _labels(**labels), "values": " ".join(values)}
