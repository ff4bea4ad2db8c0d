"""The shipped data: checksums as published in the READMEs, the known figures, clear errors."""

import hashlib
import re
import shutil

import pytest

from dp100 import data


@pytest.mark.parametrize("relative", sorted(data.CHECKSUMS))
def test_checksum_matches_readme_and_file(root, relative):
    folder, name = relative.split("/")
    readme = (root / "data" / folder / "README.md").read_text()
    published = dict((n, h) for h, n in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    assert published[name] == data.CHECKSUMS[relative]
    assert hashlib.sha256((root / "data" / relative).read_bytes()).hexdigest() == published[name]


def test_bike_known_figures():
    df = data.load_bike_sharing()
    assert df.shape == (17379, 17)
    assert list(df.columns)[0] == "instant" and list(df.columns)[-1] == "cnt"
    assert df["dteday"].nunique() == 731
    assert df["cnt"].sum() == 3_292_679
    assert (df["cnt"] == df["casual"] + df["registered"]).all()
    assert df["dteday"].min().isoformat()[:10] == "2011-01-01"
    assert df["dteday"].max().isoformat()[:10] == "2012-12-31"
    assert df["instant"].tolist() == list(range(1, 17380))
    # weekday recomputed with Sunday = 0: 2011-01-01 was a Saturday
    assert df.loc[0, "weekday"] == 6
    assert str(df["temp"].dtype) == "float64" and str(df["hr"].dtype) == "int64"


def test_credit_known_figures():
    df = data.load_credit()
    assert len(df) == 1000
    assert df["default"].value_counts().to_dict() == {0: 700, 1: 300}
    assert (df["age"] <= 25).sum() == 190
    assert str(df["purpose"].dtype) == "category"
    coded = data.load_credit_coded()
    assert coded.shape == (1000, 21)
    assert ((coded["class"] == 2) == (df["default"] == 1)).all()


def test_missing_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    data.verify.cache_clear()
    with pytest.raises(data.DataFileError, match=r"missing: .*hour\.csv"):
        data.load_bike_sharing()
    data.verify.cache_clear()


def test_altered_file_is_named(tmp_path, monkeypatch, root):
    shutil.copytree(root / "data" / "credit", tmp_path / "credit")
    path = tmp_path / "credit" / "german_credit.csv"
    path.write_text(path.read_text().replace("radio/television", "television", 1))
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    data.verify.cache_clear()
    with pytest.raises(data.DataFileError, match=r"altered: .*german_credit\.csv"):
        data.load_credit()
    data.verify.cache_clear()


def test_unknown_file_is_refused():
    with pytest.raises(data.DataFileError, match="not one of the course's data files"):
        data.verify("bike_sharing/day.csv")
