"""Every op's capabilities entry follows the schema, and protocol/README.md documents it as the server describes it."""

from __future__ import annotations

import copy

import pytest

from framebridge.protocol.op_schema import problems
from framebridge.server.ops import default_ops

from fixtures.op_sections import description_rows, documented_ops, readme_rows

OPS = default_ops()
SPEC_OPS = ("echo", "expression", "extract", "lipsync", "propagate", "restyle")


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_offered_op_describes_itself_in_the_schema(name):
    assert problems(name, OPS[name].describe()) == []


@pytest.mark.parametrize("name", sorted(set(OPS) & set(documented_ops())))
def test_the_readme_section_of_an_op_matches_its_description(name):
    description = OPS[name].describe()
    documented, described = readme_rows(documented_ops()[name]), description_rows(description)
    unavailable = isinstance(description["backends"], dict) and any(
        not backend.get("available", True) for backend in description["backends"].values())
    for table in ("param", "buffer", "meta"):
        assert described[table] - documented[table] == set(), f"{name}: {table}s the README lacks or states otherwise"
        extra = documented[table] - described[table]
        if table == "param" and unavailable:  # a backend that cannot run here describes no params of its own
            extra = {row for row in extra if row[0] in {f"`{param}`" for param in description["params"]}}
        assert extra == set(), f"{name}: {table}s the README has but the server does not describe"


def test_every_documented_op_is_offered_and_the_spec_ops_are_documented():
    documented = set(documented_ops())
    assert documented <= set(OPS)
    assert set(SPEC_OPS) <= documented


def test_a_readme_row_that_drifts_from_the_description_is_found():
    section = documented_ops()["echo"].replace("| `delay` | float | `0.0` | 0.0..60.0 | s |", "| `delay` | float | `0.0` | 0.0..30.0 | s |")
    assert description_rows(OPS["echo"].describe())["param"] - readme_rows(section)["param"]


@pytest.mark.parametrize("edit, complaint", [
    (lambda d: d["params"]["delay"].update(type="number"), "type 'number'"),
    (lambda d: d["params"]["delay"].update(default=90.0), "outside"),
    (lambda d: d["params"]["delay"].update(min=5.0, max=1.0), "above max"),
    (lambda d: d["params"]["fail"].pop("default"), "needs a default"),
    (lambda d: d["inputs"].append({"name": "beauty", "dtypes": ["float64"], "channels": [3], "required": True}), "dtypes"),
    (lambda d: d["outputs"].append({"name": "x", "dtypes": ["uint8"], "channels": None, "required": False}), "shape text"),
    (lambda d: d.pop("meta"), "missing key 'meta'"),
    (lambda d: d.update(inputs="any buffers"), "inputs must be a list"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
])
def test_the_schema_check_names_each_kind_of_mistake(edit, complaint):
    description = copy.deepcopy(OPS["echo"].describe())
    edit(description)
    assert any(complaint in problem for problem in problems("echo", description))
