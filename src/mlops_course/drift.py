"""Drift detectors: compare one feature (or a table of features) between a reference and a current sample.

Chapter 11 builds these step by step with scipy and uses them to find the drift documented in
``mlops_course.data.DRIFT``; chapter 12's continuous training reuses them as its retraining
trigger. Two kinds of number come out for each feature:

* an **effect size**, the population stability index (PSI), with bins cut at the reference
  sample's quantiles (numeric features) or one bin per category (categorical features), and an
  ``epsilon`` floor on every share so an empty bin gives a large, finite term instead of infinity;
* a **p-value** from the two-sample test that fits the column's type: Kolmogorov-Smirnov for a
  numeric feature, chi-square on the category counts for a categorical one.

A feature is flagged when its PSI reaches the threshold: with thousands of rows a p-value
flags differences too small to matter, and the PSI does not grow with the sample size.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES

PSI_BINS = 10
EPSILON = 1e-4
PSI_THRESHOLD = 0.2


def quantile_edges(reference: Sequence[float] | np.ndarray | pd.Series, bins: int = PSI_BINS) -> np.ndarray:
    """The inner bin edges: the reference's ``1/bins, 2/bins, ...`` quantiles, duplicates removed.

    A value ``x`` falls in the first bin whose edge is ``>= x`` (bins are closed on the right),
    and above the last edge in the last bin, so the outer bins are open-ended and every current
    value, however far it drifted, lands in a bin. A discrete feature has fewer bins than asked.
    """
    inner = np.quantile(np.asarray(reference, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def _shares(counts: np.ndarray, epsilon: float) -> np.ndarray:
    """Counts as shares of their total, each raised to at least ``epsilon`` (an empty bin)."""
    return np.clip(counts / counts.sum(), epsilon, None)


def _psi_from_counts(reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float) -> float:
    ref, cur = _shares(reference_counts, epsilon), _shares(current_counts, epsilon)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi(
    reference: Sequence[float] | np.ndarray | pd.Series,
    current: Sequence[float] | np.ndarray | pd.Series,
    bins: int = PSI_BINS,
    epsilon: float = EPSILON,
) -> float:
    """PSI of a numeric feature: ``sum((cur - ref) * ln(cur / ref))`` over reference-quantile bins."""
    edges = quantile_edges(reference, bins)
    n_bins = len(edges) + 1
    ref_counts = np.bincount(np.searchsorted(edges, np.asarray(reference, dtype=float)), minlength=n_bins)
    cur_counts = np.bincount(np.searchsorted(edges, np.asarray(current, dtype=float)), minlength=n_bins)
    return _psi_from_counts(ref_counts, cur_counts, epsilon)


def category_counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Counts per category (rows) in the reference and the current sample (columns)."""
    ref_counts = pd.Series(reference).value_counts()
    cur_counts = pd.Series(current).value_counts()
    ref_counts.index, cur_counts.index = ref_counts.index.astype(str), cur_counts.index.astype(str)
    categories = sorted(set(ref_counts.index) | set(cur_counts.index))
    return pd.DataFrame(
        {
            "reference": ref_counts.reindex(categories, fill_value=0),
            "current": cur_counts.reindex(categories, fill_value=0),
        }
    )


def categorical_psi(reference: pd.Series, current: pd.Series, epsilon: float = EPSILON) -> float:
    """PSI of a categorical feature: one bin per category seen in either sample."""
    counts = category_counts(reference, current)
    return _psi_from_counts(counts["reference"].to_numpy(), counts["current"].to_numpy(), epsilon)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(FEATURES),
    categorical: Sequence[str] = tuple(CATEGORICAL_FEATURES),
    psi_threshold: float = PSI_THRESHOLD,
) -> pd.DataFrame:
    """One row per feature: the test that fits its type, its p-value, the PSI, and the decision.

    Columns: ``feature``, ``test`` (``"KS"``, with the asymptotic p-value, or ``"chi-square"``),
    ``statistic``, ``p_value``,
    ``psi`` and ``drifted`` (``psi >= psi_threshold``). Numeric features also get
    ``wasserstein`` (in the feature's own units); categorical ones leave it empty.
    """
    rows = []
    for feature in features:
        ref, cur = reference[feature], current[feature]
        if feature in categorical:
            counts = category_counts(ref, cur)
            observed = counts.loc[counts.sum(axis=1) > 0].to_numpy().T
            statistic, p_value, _, _ = stats.chi2_contingency(observed)
            row = {"test": "chi-square", "statistic": statistic, "p_value": p_value,
                   "psi": categorical_psi(ref, cur), "wasserstein": np.nan}
        else:
            result = stats.ks_2samp(ref, cur, method="asymp")  # exact is slow for thousands of rows
            row = {"test": "KS", "statistic": result.statistic, "p_value": result.pvalue,
                   "psi": psi(ref, cur), "wasserstein": stats.wasserstein_distance(ref, cur)}
        rows.append({"feature": feature, **row, "drifted": row["psi"] >= psi_threshold})
    table = pd.DataFrame(rows)
    table["statistic"] = table["statistic"].astype(float)
    table["p_value"] = table["p_value"].astype(float)
    table["drifted"] = table["drifted"].astype(bool)
    return table


def drifted_features(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] = tuple(FEATURES),
    psi_threshold: float = PSI_THRESHOLD,
) -> list[str]:
    """The features whose PSI between ``reference`` and ``current`` reaches ``psi_threshold``."""
    table = feature_drift(reference, current, features, psi_threshold=psi_threshold)
    return table.loc[table["drifted"], "feature"].tolist()
