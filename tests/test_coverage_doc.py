"""docs/coverage.md maps the notes to the grade ids that check them; every id must be real."""

import re

from conftest import ROOT, assignments

from tools.nbgrade import graded_cells


def all_grade_ids():
    ids = {}
    for a in assignments():
        ids.update(graded_cells(ROOT / "source" / a / f"{a}.ipynb"))
    return ids


def test_every_grade_id_named_in_coverage_exists():
    named = set(re.findall(r"\bnb\d\d_[a-z0-9_]+\b", (ROOT / "docs" / "coverage.md").read_text()))
    missing = sorted(named - set(all_grade_ids()))
    assert not missing, f"docs/coverage.md names grade ids that do not exist: {missing}"


def test_every_graded_cell_is_in_coverage():
    named = set(re.findall(r"\bnb\d\d_[a-z0-9_]+\b", (ROOT / "docs" / "coverage.md").read_text()))
    unlisted = sorted(set(all_grade_ids()) - named)
    assert not unlisted, f"graded cells missing from docs/coverage.md: {unlisted}"
