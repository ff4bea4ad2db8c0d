"""Load the course's two shipped data sets, verified, with dtypes set.

Both files ship in ``data/`` (see each folder's README for provenance and licence). Every load checks
the file's sha256 against the checksum the README publishes, so a learner who edited or truncated a
file gets an error naming the file and what is wrong instead of silently different numbers.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import pandas as pd

#: Where the shipped data lives; DP100_DATA overrides it (the autograder's sandbox uses that).
DATA_DIR = Path(os.environ.get("DP100_DATA", Path(__file__).resolve().parent.parent / "data"))

CHECKSUMS = {
    "bike_sharing/hour.csv": "b03a2d02e8c10f435c43c7f0b358b7e34a003afea53dbc37f0183f2763295133",
    "credit/german.data": "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
    "credit/german_credit.csv": "0d98b8a96c34d712840e1a1c91b0337852902802f71acafcb2b945ac3751756e",
}

BIKE_DTYPES = {
    "instant": "int64",
    "season": "int64",
    "yr": "int64",
    "mnth": "int64",
    "hr": "int64",
    "holiday": "int64",
    "weekday": "int64",
    "workingday": "int64",
    "weathersit": "int64",
    "temp": "float64",
    "atemp": "float64",
    "hum": "float64",
    "windspeed": "float64",
    "casual": "int64",
    "registered": "int64",
    "cnt": "int64",
}

CREDIT_NUMERIC = [
    "duration_months",
    "credit_amount",
    "installment_rate_pct",
    "residence_since",
    "age",
    "existing_credits",
    "people_liable",
    "default",
]


class DataFileError(RuntimeError):
    """A shipped data file is missing or is not the file the course was written for."""


def data_path(relative: str) -> Path:
    """Absolute path of a shipped file, e.g. ``data_path("bike_sharing/hour.csv")``."""
    return DATA_DIR / relative


@cache
def verify(relative: str) -> Path:
    """Check that ``data/<relative>`` exists and matches its published checksum; return its path."""
    path = data_path(relative)
    if relative not in CHECKSUMS:
        raise DataFileError(f"{relative!r} is not one of the course's data files: {sorted(CHECKSUMS)}")
    if not path.is_file():
        raise DataFileError(
            f"data file missing: {path}. It ships with the course; restore it with "
            f"`git checkout -- data/{relative}` (or rebuild with `python data/build_data.py`)."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CHECKSUMS[relative]:
        raise DataFileError(
            f"data file altered: {path} has sha256 {digest[:16]}..., expected "
            f"{CHECKSUMS[relative][:16]}... (see data/{relative.split('/')[0]}/README.md). "
            f"Restore it with `git checkout -- data/{relative}`."
        )
    return path


def load_bike_sharing() -> pd.DataFrame:
    """UCI Bike Sharing, hourly: 17,379 rows x 17 columns; ``dteday`` parsed as a date."""
    path = verify("bike_sharing/hour.csv")
    df = pd.read_csv(path, dtype=BIKE_DTYPES)
    df["dteday"] = pd.to_datetime(df["dteday"], format="%Y-%m-%d")
    return df


def load_credit() -> pd.DataFrame:
    """Statlog German Credit, decoded: 1,000 applicants, readable values, ``default`` 1 = bad risk.

    Text columns are pandas categoricals, numbers are int64.
    """
    path = verify("credit/german_credit.csv")
    df = pd.read_csv(path)
    for col in df.columns:
        df[col] = df[col].astype("int64") if col in CREDIT_NUMERIC else df[col].astype("category")
    return df


def load_credit_coded() -> pd.DataFrame:
    """UCI's original coded file (A11, A12, ...), 20 attributes plus ``class`` (1 good, 2 bad)."""
    path = verify("credit/german.data")
    names = [f"A{i}" for i in range(1, 21)] + ["class"]
    return pd.read_csv(path, sep=" ", header=None, names=names)
