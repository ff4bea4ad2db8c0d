import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `tools` is a folder of scripts, importable from tests


def assignments() -> list[str]:
    return sorted(p.name for p in (ROOT / "source").glob("*") if (p / f"{p.name}.ipynb").exists())


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
