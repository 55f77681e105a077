"""Lab 08 (Kubernetes): how the tests read manifests and render a kustomization.

The lab's setup cell imports these helpers so a learner can see how their files are checked,
and the test cells import them from here (a test cell never uses the notebook's names). They
only parse, validate and render: the decisions (and the inputs of the hidden tests) stay in the
test cells. Nothing here runs a student's code, and nothing here talks to a cluster:
kubernetes-validate checks against the OpenAPI schemas it ships, and ``kubectl kustomize``
renders offline, with a kubeconfig that names no cluster.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from mlops_course.workspace import show_path

__all__ = [
    "KUBERNETES_VERSION", "kubectl", "load_manifests", "validation_errors", "find", "one",
    "kustomize_build", "selects", "service_selects", "pod_template", "containers", "container_port",
    "quantity", "security_setting", "resolved_env", "secret_values", "strings_in",
    "write_base", "render_overlay", "CLUSTER_SCOPED",
]

KUBERNETES_VERSION = "1.37.0"  # the schemas kubernetes-validate checks against
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "CustomResourceDefinition", "PriorityClass", "IngressClass"}


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def kubectl(*args: str, cwd: str | Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the environment's kubectl with an empty kubeconfig, so it can never reach a cluster."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "kubeconfig"
        config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        env = {**os.environ, "KUBECONFIG": str(config), "HOME": tmp}
        return subprocess.run([_tool("kubectl"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def load_manifests(source: str | Path) -> list[dict[str, Any]]:
    """The documents of a YAML file (a path) or text, parsed safely; empty documents are skipped.
    Raises AssertionError with a readable message when it is not YAML or a document is not a mapping."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))):
        path = Path(source)
        if not path.is_file():
            raise AssertionError(f"{show_path(path)} does not exist: run your answer cell, which writes it.")
        text, where = path.read_text(), show_path(path)
    else:
        text, where = str(source), "the YAML"
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise AssertionError(f"{where} is not valid YAML (only plain YAML, no Python tags): {error}") from None
    for number, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict):
            raise AssertionError(f"{where}: document {number} is a {type(doc).__name__}, not a mapping with "
                                 "apiVersion, kind and metadata.")
    return documents


def _label(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def validation_errors(documents: list[dict[str, Any]], version: str = KUBERNETES_VERSION,
                      strict: bool = True) -> list[str]:
    """kubernetes-validate's findings for each document (``strict`` rejects unknown fields)."""
    errors = []
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=strict)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path) or "(top level)"
            errors.append(f"{_label(doc)}: at {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{_label(doc)}: Kubernetes {version} has no kind {doc.get('kind')!r} in "
                          f"apiVersion {doc.get('apiVersion')!r}")
        except kubernetes_validate.InvalidSchemaError as error:
            errors.append(f"{_label(doc)}: {error}")
    return errors


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """The documents of that kind (and name)."""
    return [d for d in documents if d.get("kind") == kind
            and (name is None or (d.get("metadata") or {}).get("name") == name)]


def one(documents: list[dict[str, Any]], kind: str, name: str, where: str = "the file") -> dict[str, Any]:
    """The single document of that kind and name, or an AssertionError that says what is there."""
    found = find(documents, kind, name)
    have = [_label(d) for d in documents]
    assert len(found) == 1, (f"{where} should hold one {kind} named {name!r}; it holds {have or 'nothing'}"
                             + (" (twice)" if len(found) > 1 else "") + ".")
    return found[0]


def kustomize_build(folder: str | Path) -> list[dict[str, Any]]:
    """``kubectl kustomize <folder>``, parsed. Raises AssertionError with kustomize's message on failure."""
    done = kubectl("kustomize", str(folder), timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize failed: {done.stderr.strip()[:800]}")
    return load_manifests(done.stdout)


# ---- selectors and ports ----

def _expression_holds(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def selects(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A LabelSelector (``matchLabels`` and ``matchExpressions``, as a Deployment's ``spec.selector``)
    matches these labels. An empty selector matches everything; a missing one nothing."""
    if selector is None:
        return False
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    match = selector.get("matchLabels") or {}
    if any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    return all(_expression_holds(e, labels) for e in selector.get("matchExpressions") or [])


def service_selects(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A Service's ``spec.selector`` (a plain map) picks pods with these labels. A Service without
    a selector picks no pods at all (its endpoints are managed by hand)."""
    if not selector:
        return False
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment (``spec.template``), or {}."""
    return ((workload.get("spec") or {}).get("template") or {})


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod_template(workload).get("spec") or {}).get("containers") or [])


def container_port(container: dict[str, Any], port: int | str | None) -> int | None:
    """The container port a probe or a Service's ``targetPort`` reaches: a number is itself (if
    the container declares it or not), a name is looked up in the container's ``ports``."""
    if isinstance(port, bool) or port is None:
        return None
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return None  # "8000" as a string is a (malformed) port name, not a number
    for declared in container.get("ports") or []:
        if declared.get("name") == text:
            return declared.get("containerPort")
    return None


# ---- quantities and security ----

_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$")


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity as a number: ``"100m"`` is 0.1, ``"256Mi"`` is 268435456,
    ``"512M"`` is 512000000. None when it is not a quantity."""
    if isinstance(value, bool) or value is None:
        return None
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, exponent, suffix = match.groups()
    try:
        result = Decimal(number)
        if exponent:
            return result * Decimal(10) ** int(exponent[1:])
        return result * Decimal(_SUFFIXES[suffix or ""])
    except (InvalidOperation, ValueError):
        return None


def security_setting(workload: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """The value of a security-context field (``runAsUser``, ``runAsNonRoot``) that applies to the
    container: its own ``securityContext`` wins over the pod's."""
    own = container.get("securityContext") or {}
    if field in own:
        return own[field]
    return ((pod_template(workload).get("spec") or {}).get("securityContext") or {}).get(field)


# ---- configuration ----

def secret_values(secret: dict[str, Any]) -> dict[str, str | None]:
    """The plain values of a Secret: ``data`` decoded from base64 (None where a value is not
    base64), with ``stringData`` winning, as the API server merges them."""
    values: dict[str, str | None] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            values[str(key)] = None
    for key, plain in (secret.get("stringData") or {}).items():
        values[str(key)] = None if plain is None else str(plain)
    return values


def resolved_env(container: dict[str, Any], documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each environment variable the container gets, as the kubelet resolves it, with where it
    comes from: ``{"source": "literal" | "configmap" | "secret" | "unresolved", "value": ..., "from": ...}``.
    ``envFrom`` comes first (with its ``prefix``), and ``env`` overrides it. ConfigMaps and Secrets
    are looked up by name in ``documents``."""
    def source_values(kind: str, name: str | None) -> dict[str, Any] | None:
        found = find(documents, kind, name)
        if not found:
            return None
        return secret_values(found[0]) if kind == "Secret" else {
            str(k): v for k, v in (found[0].get("data") or {}).items()}

    env: dict[str, dict[str, Any]] = {}
    for item in container.get("envFrom") or []:
        for field, kind, label in (("configMapRef", "ConfigMap", "configmap"), ("secretRef", "Secret", "secret")):
            ref = item.get(field)
            if ref:
                values = source_values(kind, ref.get("name"))
                for key, value in (values or {}).items():
                    env[f"{item.get('prefix') or ''}{key}"] = {"source": label, "value": value,
                                                               "from": f"{kind}/{ref.get('name')}"}
    for item in container.get("env") or []:
        name = item.get("name")
        if "valueFrom" not in item:
            env[name] = {"source": "literal", "value": item.get("value"), "from": None}
            continue
        value_from = item["valueFrom"] or {}
        for field, kind, label in (("configMapKeyRef", "ConfigMap", "configmap"),
                                   ("secretKeyRef", "Secret", "secret")):
            ref = value_from.get(field)
            if ref:
                values = source_values(kind, ref.get("name")) or {}
                key = ref.get("key")
                env[name] = ({"source": label, "value": values[key], "from": f"{kind}/{ref.get('name')}"}
                             if key in values else {"source": "unresolved", "value": None,
                                                    "from": f"{kind}/{ref.get('name')} key {key!r}"})
                break
        else:
            env[name] = {"source": "unresolved", "value": None, "from": str(value_from)}
    return env


def strings_in(value: Any) -> list[str]:
    """Every string in a parsed manifest: keys and values, at any depth."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


# ---- task 4's base ----

IMAGE = "ghcr.io/acme/churn-api"


def write_base(folder: str | Path, annotations: dict[str, str] | None = None) -> Path:
    """The kustomize base of task 4 in ``folder``: a minimal Deployment (1 replica, image tag 1.0.0,
    its environment from the generated ConfigMap ``churn-config``) and its Service."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "churn-api", "labels": {"app": "churn-api"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "churn-api"}},
            "template": {
                "metadata": {"labels": {"app": "churn-api"}},
                "spec": {"containers": [{"name": "api", "image": f"{IMAGE}:1.0.0",
                                         "ports": [{"name": "http", "containerPort": 8000}]}]},
            },
        },
    }
    if annotations:
        deployment["metadata"]["annotations"] = dict(annotations)
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "churn-config"}}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "churn-api"},
               "spec": {"selector": {"app": "churn-api"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["deployment.yaml", "service.yaml"],
        "configMapGenerator": [{"name": "churn-config", "literals": ["MODEL_VERSION=1.0.0", "LOG_LEVEL=info"]}],
    }
    for name, doc in (("deployment.yaml", deployment), ("service.yaml", service),
                      ("kustomization.yaml", kustomization)):
        (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def render_overlay(overlay: str | Path, base_annotations: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Render a learner's overlay folder the way the tests do: copied next to a fresh base
    (``../../base`` from it), so it never depends on the learner's copy of the base."""
    overlay = Path(overlay)
    names = ("kustomization.yaml", "kustomization.yml", "Kustomization")
    if not any((overlay / name).is_file() for name in names):
        raise AssertionError(f"{show_path(overlay)} has no kustomization.yaml: run your answer cell, which writes it.")
    with tempfile.TemporaryDirectory() as tmp:
        write_base(Path(tmp) / "base", base_annotations)
        target = Path(tmp) / "overlays" / "prod"
        shutil.copytree(overlay, target, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
        return kustomize_build(target)
