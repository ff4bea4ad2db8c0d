"""Environments of a local workspace: local equivalent of Azure ML's ``Environment`` and
``CondaDependencies`` (SDK v1), a conda YAML file per version under the workspace's ``environments/``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dp100.workspace_folder import WorkspaceError, WorkspaceFolder

#: where a workspace keeps its environments: ``environments/<name>/<version>.yml``
FOLDER = "environments"


class CondaDependencies:
    """The packages of an environment, serialised as a conda ``environment.yml``."""

    def __init__(self, python_version: str = "3.11"):
        self.python_version = python_version
        self.conda_packages: list[str] = []
        self.pip_packages: list[str] = []

    @classmethod
    def create(
        cls, conda_packages: Iterable[str] = (), pip_packages: Iterable[str] = (), python_version: str = "3.11"
    ) -> CondaDependencies:
        deps = cls(python_version)
        for p in conda_packages:
            deps.add_conda_package(p)
        for p in pip_packages:
            deps.add_pip_package(p)
        return deps

    def add_conda_package(self, package: str) -> None:
        _add_package(self.conda_packages, package, "conda")

    def add_pip_package(self, package: str) -> None:
        _add_package(self.pip_packages, package, "pip")

    def serialize_to_string(self, name: str = "project_environment") -> str:
        lines = [f"name: {name}", "channels:", "  - conda-forge", "dependencies:", f"  - python={self.python_version}"]
        lines += [f"  - {p}" for p in self.conda_packages]
        if self.pip_packages:
            lines += ["  - pip", "  - pip:"] + [f"    - {p}" for p in self.pip_packages]
        return "\n".join(lines) + "\n"


def _add_package(packages: list[str], package: str, kind: str) -> None:
    if not package or not isinstance(package, str) or any(c.isspace() for c in package):
        raise WorkspaceError(f"{kind} package {package!r}: give one package spec without spaces")
    if package not in packages:
        packages.append(package)


class _PythonSection:
    def __init__(self) -> None:
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False


class Environment:
    """A named, versioned environment definition. Locally, runs use the course's own venv; the
    registered conda YAML records what Azure would build into a Docker image."""

    def __init__(self, name: str):
        if not name:
            raise WorkspaceError("an environment needs a name")
        self.name = name
        self.version: int | None = None
        self.python = _PythonSection()

    def register(self, workspace: WorkspaceFolder) -> Environment:
        folder = workspace.root / FOLDER / self.name
        folder.mkdir(parents=True, exist_ok=True)
        text = self.python.conda_dependencies.serialize_to_string(self.name)
        existing = _versions(folder)
        if existing and existing[-1].read_text() == text:
            self.version = int(existing[-1].stem)  # same definition: same version, as in Azure
        else:
            self.version = len(existing) + 1
            (folder / f"{self.version}.yml").write_text(text)
        return self

    @staticmethod
    def get(workspace: WorkspaceFolder, name: str, version: int | None = None) -> Environment:
        folder = workspace.root / FOLDER / name
        files = _versions(folder)
        if not files:
            raise WorkspaceError(f"no environment {name!r} registered in workspace {workspace.name!r}")
        chosen = files[-1] if version is None else folder / f"{version}.yml"
        if not chosen.exists():
            raise WorkspaceError(f"environment {name!r} has no version {version}")
        import yaml

        spec = yaml.safe_load(chosen.read_text())
        env = Environment(name)
        env.version = int(chosen.stem)
        deps = env.python.conda_dependencies
        for item in spec.get("dependencies", []):
            if isinstance(item, dict):
                for p in item.get("pip", []):
                    deps.add_pip_package(p)
            elif str(item).startswith("python="):
                deps.python_version = str(item).split("=", 1)[1]
            elif item != "pip":
                deps.add_conda_package(str(item))
        return env

    @staticmethod
    def list(workspace: WorkspaceFolder) -> dict[str, Environment]:
        """The latest version of every registered environment, by name (what ``ws.environments`` lists)."""
        folder = workspace.root / FOLDER
        return {p.name: Environment.get(workspace, p.name) for p in sorted(folder.glob("*"))} if folder.exists() else {}

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version})"


def _versions(folder: Path) -> list[Path]:
    """The registered versions of one environment, oldest first (``1.yml``, ``2.yml``...)."""
    return sorted(folder.glob("*.yml"), key=lambda p: int(p.stem)) if folder.exists() else []
