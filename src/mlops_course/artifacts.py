"""The chapter-00 model, packaged for later chapters: pipeline, artifact with metadata, loader.

Chapter 00 writes this code step by step; chapters 03 onwards import it instead of
repeating it. An artifact is one joblib file holding ``{"model": ..., "metadata": {...}}``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET

METADATA_KEYS = ("version", "features", "metrics", "data_hash")


class ModelMetadataError(ValueError):
    """A model artifact does not match what the caller expects."""


def build_pipeline(classifier: Any | None = None) -> Pipeline:
    """Scale the numeric features, one-hot encode the categorical ones, then classify."""
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC_FEATURES),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
        ]
    )
    model = classifier if classifier is not None else LogisticRegression(max_iter=1000)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def data_hash(frame: pd.DataFrame) -> str:
    """A short, stable fingerprint of a DataFrame's contents (row order matters)."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(row_hashes.tobytes()).hexdigest()[:16]


def evaluate(model: Pipeline, frame: pd.DataFrame, threshold: float = 0.5) -> dict[str, float]:
    """ROC AUC, average precision and recall of the churn class, rounded to 4 places."""
    scores = model.predict_proba(frame[FEATURES])[:, 1]
    truth = frame[TARGET]
    return {
        "roc_auc": round(float(roc_auc_score(truth, scores)), 4),
        "average_precision": round(float(average_precision_score(truth, scores)), 4),
        "recall": round(float(recall_score(truth, scores >= threshold)), 4),
    }


def train_reference_model(frame: pd.DataFrame) -> Pipeline:
    """Fit ``build_pipeline()`` on a frame of the course dataset."""
    return build_pipeline().fit(frame[FEATURES], frame[TARGET])


def save_model_bundle(
    model: Any,
    path: str | os.PathLike[str],
    *,
    version: str,
    metrics: dict[str, float],
    training_data: pd.DataFrame,
    features: list[str] | None = None,
) -> Path:
    """Write the model and its metadata (version, features, metrics, data hash) to one file."""
    metadata = {
        "version": version,
        "features": list(features or FEATURES),
        "metrics": dict(metrics),
        "data_hash": data_hash(training_data),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"model": model, "metadata": metadata}, target)
    return target


def load_model_bundle(
    path: str | os.PathLike[str], expected_features: list[str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Load a bundle; refuse one whose metadata is missing or whose features differ."""
    bundle = joblib.load(path)
    if not isinstance(bundle, dict) or "model" not in bundle or "metadata" not in bundle:
        raise ModelMetadataError(f"{Path(path).name} is not a model bundle: expected keys 'model' and 'metadata'.")
    metadata = bundle["metadata"]
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ModelMetadataError(f"{Path(path).name} has no {', '.join(missing)} in its metadata.")
    if expected_features is not None and list(metadata["features"]) != list(expected_features):
        raise ModelMetadataError(
            f"{Path(path).name} was trained on features {metadata['features']}, "
            f"but this code expects {list(expected_features)}. Retrain or load the matching model."
        )
    return bundle["model"], metadata
