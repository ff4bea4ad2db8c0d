"""The assignment as nbgrader sees it, prepared once per run in the grader's private dir.

``prepare()`` copies ``source/<ID>`` and ``nbgrader_config.py`` from the course root into a
private course directory (mode 0700), runs nbgrader's own ``generate_assignment`` there (which
fills a gradebook with the assignment's cells, checksums and points, and builds the release
edition), and returns an :class:`Assignment`: the template gradebook each worker copies, the
source and release notebooks, the hidden tests to redact, and the nbgrader configuration
(per-cell timeout, ``add_missing_cells``, ``IgnorePattern``...) read from the course's config.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from . import course_files, gradebook
from .errors import SetupError  # noqa: F401  (re-exported: the grader's one error type)
from .feedback import HiddenTests


@dataclass
class Assignment:
    id: str
    course_root: Path
    private_course: Path
    template_db: Path
    config: Config
    notebooks: list[str]
    source: dict[str, nbformat.NotebookNode]
    release: dict[str, nbformat.NotebookNode]
    hidden: dict[str, HiddenTests]
    points: dict[str, dict[str, float]]  # notebook -> grade_id -> points
    release_dir: Path
    kernel_name: str = "python3"
    extra_files: list[str] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(sum(p.values()) for p in self.points.values())

    def grade_ids(self, notebook: str) -> set[str]:
        return course_files.grade_ids(self.source[notebook])


def load_config(course_root: Path) -> Config:
    cfg_file = course_root / "nbgrader_config.py"
    if cfg_file.is_file():
        try:
            return PyFileConfigLoader(cfg_file.name, path=str(course_root)).load_config()
        except Exception as exc:
            raise SetupError(f"cannot read {cfg_file}: {exc}") from exc
    return Config()


def generate_assignment(course: Path, assignment: str, config: Config | None = None) -> str:
    """nbgrader's own ``generate_assignment --force`` for the course in folder ``course``, run in this
    process through ``NbGraderAPI`` (as the formgrader runs it), with the course's gradebook
    ``course/gradebook.db``. Returns nbgrader's log; raises :class:`SetupError` with nbgrader's error
    and log if it fails. ``config``: the course's configuration (default: its nbgrader_config.py).
    Spares an nbgrader process (~1.5 s of CPU to start) and, for a new gradebook, the `alembic`
    subprocess that stamps it."""
    from nbgrader.apps import NbGraderAPI  # heavy import: only here

    course = Path(course).resolve()
    config = config if config is not None else load_config(course)
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    cwd = os.getcwd()
    try:
        os.chdir(course)
        api = NbGraderAPI(config=config)
        with gradebook.alembic_head_in_process():  # its new gradebook, without an `alembic` subprocess
            result = api.generate_assignment(assignment, force=True, create=True)
    finally:
        os.chdir(cwd)
    if not result.get("success"):
        raise SetupError(
            f"nbgrader generate_assignment {assignment} failed:\n"
            f"{result.get('error') or ''}\n{result.get('log', '')[-3000:]}"
        )
    return result.get("log", "")


def prepare(course_root: Path, assignment: str, private: Path) -> Assignment:
    course_root = Path(course_root).resolve()
    src = course_root / "source" / assignment
    if not (course_root / "source").is_dir():
        raise SetupError(
            f"no source/ folder in {course_root}: run the grader from the course root "
            "(the repository), where source/<assignment>/ holds the instructor notebooks"
        )
    if not src.is_dir():
        known = sorted(p.name for p in (course_root / "source").iterdir() if p.is_dir())
        raise SetupError(
            f"no such assignment {assignment!r}: {src} does not exist (assignments here: {', '.join(known) or 'none'})"
        )
    notebooks = sorted(p.stem for p in src.glob("*.ipynb"))
    if not notebooks:
        raise SetupError(f"assignment {assignment!r} has no notebook in {src}")

    course = private / "course"
    (course / "source").mkdir(parents=True)
    shutil.copytree(
        src,
        course / "source" / assignment,
        symlinks=False,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "workspace*", "mlruns*"),
    )
    config = load_config(course_root)
    config.CourseDirectory.course_id = config.CourseDirectory.get("course_id", "course") or "course"
    generate_assignment(course, assignment, config)

    source, release, hidden, points = {}, {}, {}, {}
    for nb_id in notebooks:
        source[nb_id] = course_files.read(course / "source" / assignment / f"{nb_id}.ipynb")
        release[nb_id] = course_files.read(course / "release" / assignment / f"{nb_id}.ipynb")
        hidden[nb_id] = HiddenTests.from_notebooks(source[nb_id], release[nb_id])
        points[nb_id] = course_files.graded_points(source[nb_id])
    kernel = config.Execute.get("kernel_name", "") or source[notebooks[0]].metadata.get("kernelspec", {}).get(
        "name", "python3"
    )
    release_dir = course / "release" / assignment
    extra = sorted(
        str(p.relative_to(release_dir)) for p in release_dir.rglob("*") if p.is_file() and p.suffix != ".ipynb"
    )
    return Assignment(
        assignment,
        course_root,
        course,
        course / "gradebook.db",
        config,
        notebooks,
        source,
        release,
        hidden,
        points,
        release_dir,
        kernel,
        extra,
    )
