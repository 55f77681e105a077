"""The drift detectors (mlops_course.drift) find the drift the course data documents, and nothing else.

`mlops_course.data.DRIFT` says the inputs shift from September (monthly_charges, support_calls).
The PSI detector must flag exactly those two features from that month on, and nothing in a
reference month (each tested against the other five) or in July and August; the KS test, with a
Bonferroni correction over the features, must find them too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_course.data import (
    DRIFT,
    FEATURES,
    MONTHS,
    REFERENCE_MONTHS,
    TIME_COLUMN,
    load_course_data,
)
from mlops_course.drift import (
    EPSILON,
    PSI_THRESHOLD,
    categorical_psi,
    drifted_features,
    feature_drift,
    psi,
    quantile_edges,
)

INPUT_DRIFT = {spec["column"]: spec["from_month"] for spec in DRIFT.values() if str(spec["kind"]).startswith("input")}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """Each month's drift table against the reference period; a reference month is tested
    against the other five, never against itself."""
    year = load_course_data()
    month_of = year[TIME_COLUMN].dt.strftime("%Y-%m")
    result = {}
    for month in MONTHS:
        reference = year[month_of.isin(REFERENCE_MONTHS) & (month_of != month)]
        result[month] = feature_drift(reference, year[month_of == month], FEATURES, psi_threshold=PSI_THRESHOLD)
    return result


def _documented(month: str) -> list[str]:
    return sorted(column for column, start in INPUT_DRIFT.items() if month >= start)


def test_the_documented_input_drift_is_what_this_test_expects() -> None:
    assert INPUT_DRIFT == {"monthly_charges": "2024-09", "support_calls": "2024-09"}


@pytest.mark.parametrize("month", MONTHS)
def test_psi_flags_exactly_the_documented_input_drift(tables: dict[str, pd.DataFrame], month: str) -> None:
    table = tables[month]
    found = sorted(table.loc[table["drifted"], "feature"])
    assert found == _documented(month), f"{month}: PSI >= {PSI_THRESHOLD} flags {found}, DRIFT documents {_documented(month)}"


@pytest.mark.parametrize("month", [m for m in MONTHS if m >= "2024-09"])
def test_ks_with_bonferroni_finds_the_documented_input_drift(tables: dict[str, pd.DataFrame], month: str) -> None:
    """The p-value route finds the drift too (it also raises a false alarm in February, which
    lesson 11 shows: that is why the decision rests on PSI)."""
    table = tables[month]
    rejected = set(table.loc[table["p_value"] < 0.05 / len(table), "feature"])
    assert set(_documented(month)) <= rejected, f"{month}: KS misses {set(_documented(month)) - rejected}"


def test_drifted_features_is_the_psi_decision() -> None:
    found = drifted_features(load_course_data("reference"), load_course_data("2024-10"))
    assert found == ["monthly_charges", "support_calls"]


def test_psi_bins_come_from_reference_quantiles_and_are_open_ended() -> None:
    reference = np.arange(1, 101, dtype=float)
    assert quantile_edges(reference, bins=4).tolist() == [25.75, 50.5, 75.25]
    assert psi(reference, reference, bins=4) == pytest.approx(0.0)
    # Every current value beyond the reference's range lands in an outer bin: a finite PSI.
    far = psi(reference, reference + 1000, bins=4)
    assert np.isfinite(far) and far > 1.0


def test_an_empty_bin_counts_as_epsilon() -> None:
    reference = np.repeat([1.0, 2.0], 50)          # two bins with half the rows each
    current = np.repeat([2.0], 100)                # the first bin is empty
    expected = (EPSILON - 0.5) * np.log(EPSILON / 0.5) + (1.0 - 0.5) * np.log(1.0 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(expected)


def test_categorical_psi_sees_a_new_category() -> None:
    reference = pd.Series(["a"] * 50 + ["b"] * 50)
    assert categorical_psi(reference, reference) == pytest.approx(0.0)
    assert categorical_psi(reference, pd.Series(["a"] * 50 + ["c"] * 50)) > PSI_THRESHOLD
