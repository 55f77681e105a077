"""The course dataset: monthly snapshots of a subscription service's customers, and who churned.

One running example for every chapter. It is generated, not downloaded, so it works offline,
and it is the same on every machine (a seeded NumPy generator, values rounded).
The first months are the *reference* period. Later months drift by the amounts in
``DRIFT``: the inputs shift (a price rise, more support calls) and, later still, the relation
between inputs and target changes (customers become more price-sensitive).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

TIME_COLUMN = "snapshot_date"
TARGET = "churned"
ID_COLUMN = "customer_id"
NUMERIC_FEATURES = ["tenure_months", "monthly_charges", "support_calls", "data_usage_gb"]
CATEGORICAL_FEATURES = ["contract", "payment_method", "region"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
MONTHS = [f"2024-{month:02d}" for month in range(1, 13)]
REFERENCE_MONTHS = MONTHS[:6]

DATA_DICTIONARY: dict[str, str] = {
    "customer_id": "Anonymous customer key, such as C00042 (an identifier, never a feature).",
    "snapshot_date": "First day of the month the row describes (the time column).",
    "tenure_months": "Whole months the customer has subscribed, 1 to 72.",
    "monthly_charges": "Amount billed this month, in euros.",
    "support_calls": "Calls to customer support this month.",
    "data_usage_gb": "Streaming data used this month, in GB.",
    "contract": "Contract type: month-to-month, one-year or two-year.",
    "payment_method": "How the customer pays: card, bank-transfer or e-check.",
    "region": "Sales region: north, south, east or west.",
    "churned": "Target: 1 if the customer cancelled within 30 days of the snapshot, else 0.",
}

# The drift built into the later months, so chapters 10-12 know what they should find.
DRIFT: dict[str, dict[str, object]] = {
    "price_rise": {
        "kind": "input (covariate) drift",
        "column": "monthly_charges",
        "from_month": "2024-09",
        "amount": "+15.0 euros on every bill",
    },
    "support_load": {
        "kind": "input (covariate) drift",
        "column": "support_calls",
        "from_month": "2024-09",
        "amount": "call rate x1.6",
    },
    "price_sensitivity": {
        "kind": "concept drift (the inputs-to-target relation changes)",
        "column": "monthly_charges",
        "from_month": "2024-11",
        "amount": "effect of monthly_charges on churn log-odds x3; tenure no longer lowers churn; "
        "month-to-month contracts' extra risk falls from +1.1 to +0.3 log-odds",
    },
}

_CONTRACTS = ["month-to-month", "one-year", "two-year"]
_PAYMENTS = ["card", "bank-transfer", "e-check"]
_REGIONS = ["north", "south", "east", "west"]


def _month(rng: np.random.Generator, month: str, index: int, rows: int) -> pd.DataFrame:
    """One month of snapshots, with the drift that applies to that month."""
    price_rise = month >= DRIFT["price_rise"]["from_month"]
    more_calls = month >= DRIFT["support_load"]["from_month"]
    sensitive = month >= DRIFT["price_sensitivity"]["from_month"]

    contract = rng.choice(_CONTRACTS, size=rows, p=[0.55, 0.25, 0.20])
    payment = rng.choice(_PAYMENTS, size=rows, p=[0.45, 0.30, 0.25])
    region = rng.choice(_REGIONS, size=rows, p=[0.30, 0.25, 0.25, 0.20])
    tenure = np.clip(rng.gamma(shape=2.0, scale=12.0, size=rows).round(), 1, 72)
    charges = rng.normal(65.0, 18.0, size=rows) + (contract == "two-year") * -8.0
    charges = np.clip(charges + (15.0 if price_rise else 0.0), 20.0, 140.0)
    calls = rng.poisson(1.5 * (1.6 if more_calls else 1.0), size=rows)
    usage = np.clip(rng.lognormal(mean=3.0, sigma=0.5, size=rows), 0.5, 250.0)

    # Concept drift: a competitor's cheaper plan makes customers price-sensitive, and loyalty
    # (tenure, a month-to-month contract's flexibility) stops protecting against churn.
    price_effect = 0.025 * (3.0 if sensitive else 1.0)
    tenure_effect = 0.0 if sensitive else -0.045
    flexible_contract = 0.3 if sensitive else 1.1
    log_odds = (
        (-2.45 if sensitive else -1.35)
        + tenure_effect * tenure
        + price_effect * (charges - 65.0)
        + 0.45 * (calls - 1.5)
        - 0.004 * (usage - 20.0)
        + np.select([contract == "month-to-month", contract == "one-year"], [flexible_contract, -0.3], -1.4)
        + (payment == "e-check") * 0.5
    )
    churned = rng.random(rows) < 1.0 / (1.0 + np.exp(-log_odds))

    return pd.DataFrame(
        {
            "customer_id": [f"C{index * rows + i:05d}" for i in range(rows)],
            "snapshot_date": pd.Timestamp(f"{month}-01"),
            "tenure_months": tenure.astype(int),
            "monthly_charges": charges.round(2),
            "support_calls": calls.astype(int),
            "data_usage_gb": usage.round(1),
            "contract": pd.Categorical(contract, categories=_CONTRACTS),
            "payment_method": pd.Categorical(payment, categories=_PAYMENTS),
            "region": pd.Categorical(region, categories=_REGIONS),
            "churned": churned.astype(int),
        }
    )


@lru_cache(maxsize=4)
def _generate(rows_per_month: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [_month(rng, month, i, rows_per_month) for i, month in enumerate(MONTHS)]
    return pd.concat(frames, ignore_index=True)


def load_course_data(
    months: str | list[str] | None = None, *, rows_per_month: int = 1000, seed: int = 42
) -> pd.DataFrame:
    """The course dataset (12 months x 1,000 rows by default), optionally only some months.

    ``months`` takes ``"reference"`` (the first six months, before any drift), one month
    such as ``"2024-11"``, or a list of months. Every call returns a fresh copy.
    """
    data = _generate(rows_per_month, seed)
    if months is None:
        return data.copy()
    wanted = REFERENCE_MONTHS if months == "reference" else [months] if isinstance(months, str) else months
    unknown = sorted(set(wanted) - set(MONTHS))
    if unknown:
        raise ValueError(f"Unknown month(s) {unknown}: the data covers {MONTHS[0]} to {MONTHS[-1]}.")
    selected = data[data[TIME_COLUMN].dt.strftime("%Y-%m").isin(wanted)]
    return selected.reset_index(drop=True).copy()


def data_dictionary() -> pd.DataFrame:
    """The data dictionary as a table: column, dtype and meaning."""
    dtypes = _generate(10, 42).dtypes.astype(str)
    return pd.DataFrame(
        {"column": list(DATA_DICTIONARY), "dtype": [dtypes[c] for c in DATA_DICTIONARY],
         "meaning": list(DATA_DICTIONARY.values())}
    )
