"""Azure role-based access control (RBAC): is this operation allowed for this principal here?

LOCAL TEACHING EQUIVALENT of the authorization check Azure Resource Manager runs for Azure RBAC,
NOT Azure. It evaluates role definitions written in Azure's own JSON format (the file you pass to
``az role definition create``, or the built-in definitions Microsoft publishes) the way the Azure
RBAC documentation describes:

- A role grants the operations matched by its ``Actions`` minus those matched by its
  ``NotActions`` (``DataActions`` minus ``NotDataActions`` for data-plane operations).
- ``NotActions`` is not a deny rule: it only subtracts within its own role. When a principal holds
  several role assignments, the permissions are the union of what each role grants.
- A role assignment applies at its scope and every scope below it (subscription > resource group >
  resource).
- Operation strings are compared case-insensitively; ``*`` matches any run of characters.

One detail the documentation does not spell out: whether ``workspaces/*/write`` also matches
``workspaces/write``. The built-in "AzureML Data Scientist" role answers it: it grants
``.../workspaces/*/write`` and then lists ``.../workspaces/write`` in ``NotActions``, which only makes
sense if the wildcard covers it. So here a ``*`` that is a whole path segment (``/*/``) also matches
no segment at all. Deny assignments, conditions (ABAC) and Microsoft Entra roles are not modelled.

    >>> from dp100.rbac import AZUREML_DATA_SCIENTIST, RoleAssignment, check_access
    >>> AZUREML_DATA_SCIENTIST.allows("Microsoft.MachineLearningServices/workspaces/experiments/runs/submit/action")
    True
    >>> AZUREML_DATA_SCIENTIST.allows("Microsoft.MachineLearningServices/workspaces/computes/write")
    False
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "RBACError",
    "RoleDefinition",
    "RoleAssignment",
    "operation_matches",
    "check_access",
    "explain",
    "AZUREML_DATA_SCIENTIST",
    "AZUREML_COMPUTE_OPERATOR",
    "READER",
    "BUILT_IN_ROLES",
]


class RBACError(ValueError):
    """A role definition, assignment, scope or operation string is malformed; the message says which."""


_SEGMENT = re.compile(r"^[A-Za-z0-9_.*-]+$")


def _check_string(value: Any, what: str, wildcards: bool) -> str:
    if not isinstance(value, str):
        raise RBACError(
            f"{what} must be a string like 'Microsoft.MachineLearningServices/workspaces/read', "
            f"got {type(value).__name__} {value!r}"
        )
    if value != "*":
        parts = value.split("/")
        if len(parts) < 2 or not all(parts) or not all(_SEGMENT.match(p) for p in parts):
            raise RBACError(
                f"{what} {value!r} is not an operation string: expected "
                "'Provider.Namespace/resourceType/.../verb' (letters, digits, '.', '-', '_' "
                "between single slashes, no spaces)"
            )
    if not wildcards and "*" in value:
        raise RBACError(
            f"{what} {value!r} contains '*': wildcards belong in role definitions, "
            "an operation being checked is one concrete operation"
        )
    return value


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern:
    body = re.escape(pattern)
    body = body.replace(r"/\*/", "/(?:.*/)?")  # a whole-segment '*' may also match no segment
    body = body.replace(r"\*", ".*")
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def operation_matches(pattern: str, operation: str) -> bool:
    """True if the permission ``pattern`` (may hold ``*``) covers the concrete ``operation``."""
    _check_string(pattern, "permission pattern", wildcards=True)
    _check_string(operation, "operation", wildcards=False)
    return _pattern_regex(pattern).fullmatch(operation) is not None


def _patterns(value: Any, what: str, role: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise RBACError(
            f"role {role!r}: {what} must be a list of operation strings, got {type(value).__name__} {value!r}"
        )
    return tuple(_check_string(v, f"role {role!r}: {what} entry", wildcards=True) for v in value)


def _check_scope(scope: Any, what: str) -> str:
    if not isinstance(scope, str) or not scope.startswith("/") or "//" in scope or any(c.isspace() for c in scope):
        raise RBACError(
            f"{what} {scope!r} is not a scope: expected '/' or a resource ID such as "
            "'/subscriptions/<id>/resourceGroups/<rg>/providers/"
            "Microsoft.MachineLearningServices/workspaces/<ws>'"
        )
    return scope.rstrip("/") or "/"


def _within(inner: str, outer: str) -> bool:
    """Is scope ``inner`` equal to or below scope ``outer`` (case-insensitive, whole segments)?"""
    if outer == "/":
        return True
    inner_l, outer_l = inner.lower(), outer.lower()
    return inner_l == outer_l or inner_l.startswith(outer_l + "/")


@dataclass(frozen=True)
class RoleDefinition:
    """A role definition: Azure's ``Actions`` / ``NotActions`` / ``DataActions`` / ``NotDataActions``."""

    name: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    assignable_scopes: tuple[str, ...] = ("/",)
    description: str = ""
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RBACError(f"a role definition needs a non-empty name, got {self.name!r}")
        for attr, label in (
            ("actions", "Actions"),
            ("not_actions", "NotActions"),
            ("data_actions", "DataActions"),
            ("not_data_actions", "NotDataActions"),
        ):
            object.__setattr__(self, attr, _patterns(getattr(self, attr), label, self.name))
        scopes = self.assignable_scopes
        if isinstance(scopes, str) or not isinstance(scopes, (list, tuple)) or not scopes:
            raise RBACError(f"role {self.name!r}: AssignableScopes must be a non-empty list of scopes, got {scopes!r}")
        object.__setattr__(
            self,
            "assignable_scopes",
            tuple(_check_scope(s, f"role {self.name!r}: AssignableScopes entry") for s in scopes),
        )
        if not (self.actions or self.data_actions):
            raise RBACError(f"role {self.name!r} grants nothing: it needs at least one entry in Actions or DataActions")

    # -- evaluation ---------------------------------------------------------------------------
    def allows(self, operation: str, data: bool = False) -> bool:
        """Does this role alone grant ``operation``? (``data=True`` for a data-plane operation.)"""
        _check_string(operation, "operation", wildcards=False)
        grant, exclude = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        return any(operation_matches(p, operation) for p in grant) and not any(
            operation_matches(p, operation) for p in exclude
        )

    def why(self, operation: str, data: bool = False) -> tuple[str | None, str | None]:
        """``(first granting pattern or None, first excluding pattern or None)`` for ``operation``."""
        _check_string(operation, "operation", wildcards=False)
        grant, exclude = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        granted = next((p for p in grant if operation_matches(p, operation)), None)
        excluded = next((p for p in exclude if operation_matches(p, operation)), None)
        return granted, excluded

    # -- Azure JSON ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, definition: Mapping[str, Any]) -> RoleDefinition:
        """Read either format Azure uses.

        - ``az role definition create`` / PowerShell: ``{"Name", "Actions", "NotActions", "DataActions",
          "NotDataActions", "AssignableScopes", "Description", ...}`` (keys in any case);
        - REST / built-in roles: ``{"roleName", "permissions": [{"actions", "notActions", ...}],
          "assignableScopes", "description", "name": <guid>}``.
        """
        if not isinstance(definition, Mapping):
            raise RBACError(f"a role definition must be a JSON object, got {type(definition).__name__}")
        keys = {str(k).lower(): v for k, v in definition.items()}
        if "permissions" in keys:  # REST form
            perms = keys["permissions"]
            if not isinstance(perms, list) or not perms or not all(isinstance(p, Mapping) for p in perms):
                raise RBACError("'permissions' must be a non-empty list of objects with actions/notActions")
            if len(perms) > 1:
                raise RBACError("role definitions with more than one permissions block are not supported here")
            perm = {str(k).lower(): v for k, v in perms[0].items()}
            name = keys.get("rolename")
            role_id = keys.get("name")
        else:
            perm = keys
            name = keys.get("name") or keys.get("rolename")
            role_id = keys.get("id")
        if name is None:
            raise RBACError("role definition has no name: give 'Name' (CLI form) or 'roleName' (REST form)")
        if "actions" not in perm and "dataactions" not in perm:
            raise RBACError(f"role {name!r} has no 'Actions' (or 'DataActions') list")
        return cls(
            name=name,
            actions=perm.get("actions"),
            not_actions=perm.get("notactions"),
            data_actions=perm.get("dataactions"),
            not_data_actions=perm.get("notdataactions"),
            assignable_scopes=keys.get("assignablescopes") or ["/"],
            description=keys.get("description") or "",
            id=role_id,
        )

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> RoleDefinition:
        """From a JSON file path (e.g. ``data_scientist_role.json``) or a JSON string."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise RBACError(f"no role definition file {path}")
            text = path.read_text()
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise RBACError(f"role definition is not valid JSON ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        """The ``az role definition create`` form (``Name``, ``Actions``, ``NotActions``, ...)."""
        return {
            "Name": self.name,
            "IsCustom": not bool(self.id and self.id in _BUILT_IN_IDS),
            "Description": self.description,
            "Actions": list(self.actions),
            "NotActions": list(self.not_actions),
            "DataActions": list(self.data_actions),
            "NotDataActions": list(self.not_data_actions),
            "AssignableScopes": list(self.assignable_scopes),
        }


@dataclass(frozen=True)
class RoleAssignment:
    """A principal (user, group, service principal, managed identity) holds a role at a scope."""

    principal: str
    role: RoleDefinition
    scope: str = "/"

    def __post_init__(self) -> None:
        if not isinstance(self.principal, str) or not self.principal.strip():
            raise RBACError(f"a role assignment needs a principal (user, group or identity), got {self.principal!r}")
        if not isinstance(self.role, RoleDefinition):
            raise RBACError(
                f"role must be a RoleDefinition (use RoleDefinition.from_dict), got {type(self.role).__name__}"
            )
        scope = _check_scope(self.scope, "role assignment scope")
        if not any(_within(scope, s) for s in self.role.assignable_scopes):
            raise RBACError(
                f"role {self.role.name!r} cannot be assigned at {scope!r}: its AssignableScopes "
                f"are {list(self.role.assignable_scopes)}"
            )
        object.__setattr__(self, "scope", scope)


def _applicable(assignments: Iterable[RoleAssignment], principal: str, scope: str) -> list[RoleAssignment]:
    assignments = list(assignments)
    for a in assignments:
        if not isinstance(a, RoleAssignment):
            raise RBACError(f"expected RoleAssignment objects, got {type(a).__name__} {a!r}")
    if not isinstance(principal, str) or not principal:
        raise RBACError(f"principal must be a non-empty string, got {principal!r}")
    scope = _check_scope(scope, "scope")
    return [a for a in assignments if a.principal.lower() == principal.lower() and _within(scope, a.scope)]


def check_access(
    assignments: Iterable[RoleAssignment], principal: str, operation: str, scope: str = "/", data: bool = False
) -> bool:
    """Azure's answer to "may ``principal`` perform ``operation`` on the resource at ``scope``?".

    The union over every assignment of ``principal`` at ``scope`` or above of what its role grants.
    """
    _check_string(operation, "operation", wildcards=False)
    return any(a.role.allows(operation, data=data) for a in _applicable(assignments, principal, scope))


def explain(
    assignments: Iterable[RoleAssignment], principal: str, operation: str, scope: str = "/", data: bool = False
) -> list[str]:
    """One line per applicable assignment saying whether (and by which pattern) it grants ``operation``."""
    _check_string(operation, "operation", wildcards=False)
    lines = []
    for a in _applicable(assignments, principal, scope):
        granted, excluded = a.role.why(operation, data=data)
        if granted and not excluded:
            verdict = f"GRANTS via {granted!r}"
        elif granted:
            verdict = f"excludes via NotActions {excluded!r} (matched {granted!r})"
        else:
            verdict = "does not list it"
        lines.append(f"{a.role.name} at {a.scope}: {verdict}")
    return lines or [f"{principal} holds no role assignment at or above {scope}"]


# -------------------------------------------------------------------------------------------------
# Built-in roles, transcribed from Microsoft's published definitions:
# MicrosoftDocs/azure-docs, articles/role-based-access-control/built-in-roles/ai-machine-learning.md
# (commit 51eb3126a9f90d5a2cefbe44ba16ce272fd55601, ms.date 04/25/2024) and general.md (Reader).
# -------------------------------------------------------------------------------------------------
_MLS = "Microsoft.MachineLearningServices"

AZUREML_DATA_SCIENTIST = RoleDefinition(
    name="AzureML Data Scientist",
    id="f6c7c914-8db3-469d-8ca1-694a8f32e121",
    description=(
        "Can perform all actions within an Azure Machine Learning workspace, except for creating "
        "or deleting compute resources and modifying the workspace itself."
    ),
    actions=(
        f"{_MLS}/workspaces/*/read",
        f"{_MLS}/workspaces/*/action",
        f"{_MLS}/workspaces/*/delete",
        f"{_MLS}/workspaces/*/write",
    ),
    not_actions=(
        f"{_MLS}/workspaces/delete",
        f"{_MLS}/workspaces/write",
        f"{_MLS}/workspaces/computes/*/write",
        f"{_MLS}/workspaces/computes/*/delete",
        f"{_MLS}/workspaces/computes/listKeys/action",
        f"{_MLS}/workspaces/listKeys/action",
        f"{_MLS}/workspaces/hubs/write",
        f"{_MLS}/workspaces/hubs/delete",
        f"{_MLS}/workspaces/featurestores/write",
        f"{_MLS}/workspaces/featurestores/delete",
    ),
)

AZUREML_COMPUTE_OPERATOR = RoleDefinition(
    name="AzureML Compute Operator",
    id="e503ece1-11d0-4e8e-8e2c-7a6c3bf38815",
    description=(
        "Can access and perform CRUD operations on Machine Learning Services managed compute "
        "resources (including Notebook VMs)."
    ),
    actions=(f"{_MLS}/workspaces/computes/*", f"{_MLS}/workspaces/notebooks/vm/*"),
)

READER = RoleDefinition(
    name="Reader",
    id="acdd72a7-3385-48ef-bd42-f606fba81ae7",
    description="View all resources, but does not allow you to make any changes.",
    actions=("*/read",),
)

BUILT_IN_ROLES = {r.name: r for r in (AZUREML_DATA_SCIENTIST, AZUREML_COMPUTE_OPERATOR, READER)}
_BUILT_IN_IDS = {r.id for r in BUILT_IN_ROLES.values()}
