"""Compute targets of a local workspace: local equivalent of Azure ML's ``AmlCompute``,
``ComputeTarget`` and ``ComputeTargetException`` (SDK v1), a pool of worker processes per cluster."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dp100.workspace_folder import WorkspaceError, WorkspaceFolder, read_json, write_json

#: the registry of a workspace's compute targets, in its folder
REGISTRY = "compute.json"
#: The VM sizes this local equivalent accepts (a few real Azure names; the local pool ignores size).
VM_SIZES = {
    "STANDARD_D11_V2",
    "STANDARD_DS3_V2",
    "STANDARD_DS11_V2",
    "STANDARD_D2_V2",
    "STANDARD_D3_V2",
    "STANDARD_NC6",
    "STANDARD_E4DS_V4",
}


class ComputeTargetException(WorkspaceError):
    """No such compute target (the SDK's ``azureml.exceptions.ComputeTargetException``), so the
    notes' ``try: ComputeTarget(ws, name) except ComputeTargetException: ComputeTarget.create(...)``
    works here as it does in Azure."""


@dataclass
class ProvisioningConfiguration:
    vm_size: str
    min_nodes: int
    max_nodes: int
    idle_seconds_before_scaledown: int


class AmlCompute:
    @staticmethod
    def provisioning_configuration(
        vm_size: str = "STANDARD_DS3_V2",
        min_nodes: int = 0,
        max_nodes: int = 4,
        idle_seconds_before_scaledown: int = 1800,
        **_: Any,
    ) -> ProvisioningConfiguration:
        if vm_size.upper() not in VM_SIZES:
            raise WorkspaceError(f"vm_size {vm_size!r} is not one this course knows: {sorted(VM_SIZES)}")
        if not (isinstance(max_nodes, int) and max_nodes >= 1):
            raise WorkspaceError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
        if not (isinstance(min_nodes, int) and 0 <= min_nodes <= max_nodes):
            raise WorkspaceError(f"min_nodes must be between 0 and max_nodes ({max_nodes}), got {min_nodes!r}")
        return ProvisioningConfiguration(vm_size.upper(), min_nodes, max_nodes, idle_seconds_before_scaledown)


class ComputeTarget:
    """A compute cluster: locally, a pool of at most ``max_nodes`` worker processes.

    ``submit(fn, *args)`` runs ``fn`` on a free node (a process) and returns a future; at most
    ``max_nodes`` run at once, the rest queue, as jobs queue on a busy Azure cluster.
    """

    def __init__(self, workspace: WorkspaceFolder, name: str):
        registry = read_json(workspace.root / REGISTRY, {})
        if name not in registry:
            raise ComputeTargetException(
                f"no compute target {name!r} in workspace {workspace.name!r}; created: {sorted(registry)}"
            )
        self.workspace = workspace
        self.name = name
        self.config = ProvisioningConfiguration(**registry[name])
        self.provisioning_state = "Succeeded"
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    @staticmethod
    def create(
        workspace: WorkspaceFolder, name: str, provisioning_configuration: ProvisioningConfiguration
    ) -> ComputeTarget:
        """``ComputeTarget.create(workspace, name, provisioning_configuration)``: the SDK v1 signature
        (the notes' ``compute_config=`` keyword raises ``TypeError`` there as here)."""
        if not isinstance(workspace, WorkspaceFolder):
            raise WorkspaceError(f"ComputeTarget.create: workspace must be a Workspace, got {workspace!r}")
        if not isinstance(provisioning_configuration, ProvisioningConfiguration):
            raise WorkspaceError(
                "ComputeTarget.create: provisioning_configuration must come from "
                f"AmlCompute.provisioning_configuration(...), got {provisioning_configuration!r}"
            )
        if not name or len(name) > 24 or not name.replace("-", "").isalnum():
            raise WorkspaceError(f"compute name {name!r}: 1-24 letters, digits or hyphens")
        registry = read_json(workspace.root / REGISTRY, {})
        registry[name] = provisioning_configuration.__dict__
        write_json(workspace.root / REGISTRY, registry)
        target = ComputeTarget(workspace, name)
        target.provisioning_state = "Creating"
        return target

    @staticmethod
    def list(workspace: WorkspaceFolder) -> dict[str, ComputeTarget]:
        """Every compute target of the workspace, by name (what ``ws.compute_targets`` lists)."""
        return {name: ComputeTarget(workspace, name) for name in read_json(workspace.root / REGISTRY, {})}

    @property
    def max_nodes(self) -> int:
        return self.config.max_nodes

    @property
    def vm_size(self) -> str:
        return self.config.vm_size

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: int = 20,
        is_delete_operation: bool = False,
    ) -> None:
        """Block until provisioning has finished (in Azure: minutes; here: at once). The SDK's
        other arguments are accepted; locally nodes start on first use, so there is nothing to wait for."""
        if show_output:
            print(f"Provisioning {self.name} ({self.vm_size}, max_nodes={self.max_nodes}): Succeeded")
        self.provisioning_state = "Succeeded"

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        if self._pool is None:  # nodes start on first use and scale down on shutdown()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.max_nodes, mp_context=multiprocessing.get_context("fork")
            )
        return self._pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run ``fn`` on every item across the nodes; results in input order."""
        futures = [self.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    def shutdown(self) -> None:
        """Scale down to zero nodes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def delete(self) -> None:
        self.shutdown()
        registry = read_json(self.workspace.root / REGISTRY, {})
        registry.pop(self.name, None)
        write_json(self.workspace.root / REGISTRY, registry)

    def __enter__(self) -> ComputeTarget:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, vm_size={self.vm_size!r}, max_nodes={self.max_nodes})"
