"""dp100.rbac: Actions minus NotActions, wildcards, case, union of assignments, scopes, bad input."""

import json

import pytest

from dp100.rbac import (
    AZUREML_COMPUTE_OPERATOR,
    AZUREML_DATA_SCIENTIST,
    BUILT_IN_ROLES,
    READER,
    RBACError,
    RoleAssignment,
    RoleDefinition,
    check_access,
    explain,
    operation_matches,
)

MLS = "Microsoft.MachineLearningServices/workspaces"
WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws-05"
)

# The example custom role of Microsoft's "Manage access to Azure Machine Learning workspaces" page.
CUSTOM = {
    "Name": "Data Scientist Custom",
    "IsCustom": True,
    "Description": "Can run experiment but can't create or delete compute.",
    "Actions": ["*"],
    "NotActions": [
        f"{MLS}/*/delete",
        f"{MLS}/write",
        f"{MLS}/computes/*/write",
        f"{MLS}/computes/*/delete",
        "Microsoft.Authorization/*/write",
    ],
    "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml"],
}


@pytest.mark.parametrize(
    "pattern, operation, expected",
    [
        ("*", "Microsoft.Compute/virtualMachines/start/action", True),
        ("*/read", "Microsoft.Network/virtualNetworks/read", True),
        ("*/read", "Microsoft.Network/virtualNetworks/write", False),
        ("Microsoft.Compute/*", "Microsoft.Compute/virtualMachines/write", True),
        ("Microsoft.Compute/*", "Microsoft.Network/virtualNetworks/write", False),
        (f"{MLS}/*/read", f"{MLS}/experiments/runs/read", True),  # * spans several segments
        (f"{MLS}/*/read", f"{MLS}/read", True),  # whole-segment * may be empty
        (f"{MLS}/computes/*/write", f"{MLS}/computes/write", True),
        (f"{MLS}/computes/*/write", f"{MLS}/computesx/write", False),  # no partial segment
        ("microsoft.web/sites/restart/Action", "Microsoft.Web/sites/restart/action", True),  # case
        (f"{MLS}/read", f"{MLS}/read/extra", False),  # whole-string match
    ],
)
def test_operation_matches(pattern, operation, expected):
    assert operation_matches(pattern, operation) is expected


def test_data_scientist_transcription():
    ds = AZUREML_DATA_SCIENTIST
    assert ds.id == "f6c7c914-8db3-469d-8ca1-694a8f32e121"
    assert ds.actions == tuple(f"{MLS}/*/{verb}" for verb in ("read", "action", "delete", "write"))
    assert len(ds.not_actions) == 10 and f"{MLS}/listKeys/action" in ds.not_actions
    assert set(BUILT_IN_ROLES) == {"AzureML Data Scientist", "AzureML Compute Operator", "Reader"}


@pytest.mark.parametrize(
    "operation, expected",
    [
        (f"{MLS}/experiments/runs/submit/action", True),
        (f"{MLS}/models/write", True),
        (f"{MLS}/onlineEndpoints/deployments/write", True),
        (f"{MLS}/datastores/delete", True),
        (f"{MLS}/read", True),
        (f"{MLS}/write", False),  # cannot modify the workspace
        (f"{MLS}/delete", False),
        (f"{MLS}/computes/write", False),  # cannot create compute
        (f"{MLS}/computes/delete", False),
        (f"{MLS}/computes/start/action", True),  # can start / stop existing compute
        (f"{MLS}/listKeys/action", False),
        (f"{MLS}/computes/listKeys/action", False),
        (f"{MLS}/hubs/write", False),
        (f"{MLS}/featurestores/delete", False),
        ("Microsoft.Authorization/roleAssignments/write", False),  # never granted
        ("MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/COMPUTES/WRITE", False),
    ],
)
def test_data_scientist_allows(operation, expected):
    assert AZUREML_DATA_SCIENTIST.allows(operation) is expected


def test_custom_role_from_cli_json_and_rest_json(tmp_path):
    role = RoleDefinition.from_dict(CUSTOM)
    assert role.allows("Microsoft.Storage/storageAccounts/write")
    assert not role.allows(f"{MLS}/experiments/delete")
    assert not role.allows("Microsoft.Authorization/roleAssignments/write")
    assert role.allows("Microsoft.Authorization/roleAssignments/read")
    path = tmp_path / "data_scientist_role.json"
    path.write_text(json.dumps(CUSTOM))
    assert RoleDefinition.from_json(path) == role
    assert RoleDefinition.from_json(json.dumps(CUSTOM)) == role
    rest = {"roleName": "R", "name": "guid", "permissions": [{"actions": ["*/read"], "notActions": []}]}
    assert RoleDefinition.from_dict(rest).allows("Microsoft.Compute/disks/read")
    assert RoleDefinition.from_dict(role.to_dict()) == role


def test_union_of_assignments_and_not_actions_only_within_their_role():
    ds = RoleAssignment("alice@contoso.com", AZUREML_DATA_SCIENTIST, WS)
    op = RoleAssignment("alice@contoso.com", AZUREML_COMPUTE_OPERATOR, WS)
    create_compute = f"{MLS}/computes/write"
    assert not check_access([ds], "alice@contoso.com", create_compute, WS)
    assert check_access([ds, op], "ALICE@contoso.com", create_compute, WS)  # union; principal case-insensitive
    assert check_access([ds, op], "alice@contoso.com", create_compute, WS + "/computes/cpu-cluster")
    assert not check_access([ds, op], "bob@contoso.com", create_compute, WS)  # other principal
    assert not check_access(
        [ds, op],
        "alice@contoso.com",
        create_compute,  # other workspace
        WS.replace("ws-05", "ws-06"),
    )
    assert not check_access([ds, op], "alice@contoso.com", f"{MLS}/write", WS)
    lines = explain([ds, op], "alice@contoso.com", create_compute, WS)
    assert any("excludes via NotActions" in line for line in lines)
    assert any("GRANTS" in line and "Compute Operator" in line for line in lines)
    assert "no role assignment" in explain([ds], "bob@contoso.com", create_compute, WS)[0]


def test_scope_inheritance_is_by_whole_segment():
    a = RoleAssignment("u", READER, "/subscriptions/1/resourceGroups/rg")
    assert check_access([a], "u", "Microsoft.Compute/disks/read", "/subscriptions/1/resourceGroups/rg/x")
    assert check_access([a], "u", "Microsoft.Compute/disks/read", "/subscriptions/1/resourcegroups/RG")
    assert not check_access([a], "u", "Microsoft.Compute/disks/read", "/subscriptions/1/resourceGroups/rg2")
    assert not check_access([a], "u", "Microsoft.Compute/disks/read", "/subscriptions/1")


def test_data_actions_are_separate():
    role = RoleDefinition(
        "blob reader",
        data_actions=["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
        not_data_actions=["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"],
    )
    blob_read = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
    assert role.allows(blob_read, data=True)
    assert not role.allows(blob_read)  # a data action is not a management action
    assert not role.allows(blob_read.replace("read", "delete"), data=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "", "actions": ["*"]}, "non-empty name"),
        ({"name": "r", "actions": "*"}, "must be a list"),
        ({"name": "r", "actions": []}, "grants nothing"),
        ({"name": "r", "actions": ["Microsoft.Compute virtualMachines/read"]}, "not an operation string"),
        ({"name": "r", "actions": ["Microsoft.Compute//read"]}, "not an operation string"),
        ({"name": "r", "actions": [42]}, "must be a string"),
        ({"name": "r", "actions": ["*"], "not_actions": ["read"]}, "not an operation string"),
        ({"name": "r", "actions": ["*"], "assignable_scopes": "subscriptions/1"}, "AssignableScopes"),
        ({"name": "r", "actions": ["*"], "assignable_scopes": ["subscriptions/1"]}, "not a scope"),
    ],
)
def test_bad_role_definitions(kwargs, message):
    with pytest.raises(RBACError, match=message):
        RoleDefinition(**kwargs)


@pytest.mark.parametrize(
    "definition, message",
    [
        ([], "JSON object"),
        ({"Actions": ["*"]}, "no name"),
        ({"Name": "r"}, "no 'Actions'"),
        ({"roleName": "r", "permissions": []}, "non-empty list"),
        ({"roleName": "r", "permissions": [{"actions": ["*"]}, {"actions": ["*"]}]}, "more than one"),
    ],
)
def test_bad_json(definition, message):
    with pytest.raises(RBACError, match=message):
        RoleDefinition.from_dict(definition)


def test_bad_json_text_and_missing_file(tmp_path):
    with pytest.raises(RBACError, match="not valid JSON"):
        RoleDefinition.from_json("{not json")
    with pytest.raises(RBACError, match="no role definition file"):
        RoleDefinition.from_json(tmp_path / "missing.json")


def test_bad_operations_and_assignments():
    with pytest.raises(RBACError, match="contains '\\*'"):
        AZUREML_DATA_SCIENTIST.allows(f"{MLS}/*/read")
    with pytest.raises(RBACError, match="not an operation string"):
        AZUREML_DATA_SCIENTIST.allows("delete everything")
    with pytest.raises(RBACError, match="must be a string"):
        operation_matches("*", None)
    with pytest.raises(RBACError, match="needs a principal"):
        RoleAssignment("", READER)
    with pytest.raises(RBACError, match="must be a RoleDefinition"):
        RoleAssignment("u", CUSTOM)
    with pytest.raises(RBACError, match="cannot be assigned"):
        RoleAssignment("u", RoleDefinition.from_dict(CUSTOM), "/subscriptions/other")
    with pytest.raises(RBACError, match="expected RoleAssignment"):
        check_access([CUSTOM], "u", f"{MLS}/read")
    with pytest.raises(RBACError, match="not a scope"):
        check_access([], "u", f"{MLS}/read", scope="subscriptions/1")
