"""A clone of the repository is the whole course: nothing points outside it.

Every file in the repository (tracked, or new and not ignored) is free of references to places a
clone does not have (the authors' shared folder, their design document, machine paths), and every
relative link of every markdown file (and markdown cell of a notebook) resolves to a file or
folder inside the repository."""

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import ROOT

THIS = Path(__file__).resolve()
# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            re.escape("../" + "shared"),  # the authors' shared folder next to the repository
            r"(?<![\w.~-])" + re.escape("/work" + "/"),  # absolute paths of the machine it was built on
            r"\bdesign" + r"\.md\b",  # the design document: its rules live in docs/authoring.md
            r"\bpitfalls" + r"\.md\b",
        ]
    )
)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
FENCED = re.compile(r"^(\s*)(```|~~~).*?^\1\2\s*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, f"git ls-files failed in {ROOT}: {listed.stderr}"
    return [ROOT / name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary (images, databases)
    return data.decode("utf-8", errors="replace")


def test_no_file_references_a_place_outside_the_repository():
    offenders = []
    for path in repository_files():
        if path.resolve() == THIS:
            continue
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in OUTSIDE.finditer(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in: {line.strip()[:120]}")
    assert not offenders, (
        "references to places a clone does not have (copy what is needed into "
        "the repository, e.g. docs/study-notes.md, docs/authoring.md):\n" + "\n".join(offenders)
    )


def relative_links(markdown: str) -> list[str]:
    prose = INLINE_CODE.sub("", FENCED.sub("", markdown))
    targets = LINK.findall(prose) + REFERENCE.findall(prose)
    return [t for t in targets if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t) and not t.startswith("#")]


def markdown_files() -> list[Path]:
    """Markdown files, and the course's notebooks (their markdown cells are checked the same way;
    autograder/samples/ holds deliberately broken submissions)."""
    course = {"source", "release", "notebooks"}
    return sorted(
        p
        for p in repository_files()
        if p.suffix.lower() == ".md" or (p.suffix.lower() == ".ipynb" and p.relative_to(ROOT).parts[0] in course)
    )


def markdown_of(path: Path) -> str:
    if path.suffix.lower() != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return "\n\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c.get("cell_type") == "markdown"
    )


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_markdown_link_resolves_inside_the_repository(path):
    broken = []
    for target in relative_links(markdown_of(path)):
        file_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not file_part:
            continue
        resolved = (ROOT / file_part.lstrip("/")) if file_part.startswith("/") else (path.parent / file_part)
        resolved = resolved.resolve()
        if not resolved.is_relative_to(ROOT.resolve()):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (no such file: {resolved.relative_to(ROOT.resolve())})")
    assert not broken, f"{path.relative_to(ROOT)}: broken relative links:\n" + "\n".join(broken)


def test_the_link_checker_can_fail(tmp_path):
    """The checks above are not vacuous: they see links and outside references."""
    sample = (
        "See [notes](docs/study-notes.md), ![shot](img/a.png), [web](https://example.org), "
        "[top](#top), `[code](not/a/link.md)`\n```\n[fenced](nor/this.md)\n```\n"
        "[ref]: ../elsewhere.md\n"
    )
    assert relative_links(sample) == ["docs/study-notes.md", "img/a.png", "../elsewhere.md"]
    assert OUTSIDE.search("read " + "../" + "shared/seed/notes.md")
    assert OUTSIDE.search("see " + "design" + ".md §5")
    assert OUTSIDE.search("open " + "/work" + "/main/README.md")
    assert not OUTSIDE.search("docs/authoring.md and docs/study-notes.md, cp ../work/x .")
