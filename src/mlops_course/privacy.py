"""Switch off telemetry in every tool the course uses, before any of them runs."""
import os

# Each variable is read by the tool named beside it (checked against the pinned versions).
TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "true",  # the shared convention; MLflow and Evidently honour it
    "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow >= 3.2 collects usage data by default
    "DVC_NO_ANALYTICS": "1",  # DVC's anonymous usage analytics
    "ITERATIVE_DO_NOT_TRACK": "1",  # iterative-telemetry, used by DVC and Evidently
    "EVIDENTLY_DISABLE_TELEMETRY": "1",  # Evidently's legacy UI and collector
    "SCARF_ANALYTICS": "false",  # Airflow 2.10's usage data (gone in 3.x; harmless)
    "HF_HUB_OFFLINE": "1",  # never reach a model hub
}


def disable_telemetry() -> dict[str, str]:
    """Set every telemetry opt-out in this process (children inherit it) and return them."""
    os.environ.update(TELEMETRY_OFF)
    return dict(TELEMETRY_OFF)
