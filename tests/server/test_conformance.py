"""protocol/conformance against real servers: the vectors are the reference encoder's bytes, a real server answers each as it says,
a wrong expectation fails, and every error code is in the spec and in a vector (or classified client side)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib.util
import json
import re
from pathlib import Path

import pytest

from fixtures.conformance import VectorFailed, load_vectors, matches, replay
from fixtures.server import issue_client_file
from framebridge.protocol.connection import dial_address
from framebridge.protocol.errors import error_codes
from framebridge.protocol.messages import REPLIES, REQUESTS
from framebridge.server.cli import main
from framebridge.server.launch import spawn_server

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "protocol" / "conformance"
VECTOR_SET = load_vectors()


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory):
    """`framebridge serve` as the conformance README asks: default limits, a 5 s input timeout, no models configured."""
    folder = tmp_path_factory.mktemp("conformance")
    models = folder / "models.toml"
    models.write_text("")
    with spawn_server(folder / "server", "--input-timeout", "5",
                      env={"FRAMEBRIDGE_MODELS": str(models), "FRAMEBRIDGE_CACHE_DIR": str(folder / "cache")}) as running:
        connection = running.connection
        yield dial_address(connection.address), connection.key


@pytest.fixture(scope="module")
def studio_conformance_server(tmp_path_factory):
    """A CURVE server on every interface (reached over 127.0.0.1) whose models config is not valid TOML."""
    folder = tmp_path_factory.mktemp("conformance-studio")
    models = folder / "models.toml"
    models.write_text("not = [valid toml")
    with spawn_server(folder / "server", "--address", "tcp://0.0.0.0:*", "--curve",
                      env={"FRAMEBRIDGE_MODELS": str(models), "FRAMEBRIDGE_CACHE_DIR": str(folder / "cache")}) as running:
        yield running


LOOPBACK = sorted(name for name, vector in VECTOR_SET.items() if vector["server"] == "loopback")
STUDIO = sorted(name for name, vector in VECTOR_SET.items() if vector["server"] == "studio")


@pytest.mark.parametrize("name", LOOPBACK)
def test_the_server_answers_each_vector_as_it_says(conformance_server, name):
    replay(VECTOR_SET[name], *conformance_server)


@pytest.mark.parametrize("name", STUDIO)
def test_a_studio_server_answers_each_issued_client_vector_as_it_says(studio_conformance_server, name):
    client = json.loads(issue_client_file(studio_conformance_server, f"conformance-{name}").read_text())
    revoke = lambda: main(["connection", "revoke", client["client_name"],  # noqa: E731
                           "--connection-file", str(studio_conformance_server.connection_file)])
    replay(VECTOR_SET[name], dial_address(client["address"]), client["key"].encode(),
           curve=(client["curve_public_key"].encode(), client["client_public_key"].encode(), client["client_secret_key"].encode()),
           actions={"revoke": lambda: revoke() == 0 or pytest.fail("revocation failed")})


@pytest.mark.parametrize("name, step, code", [("buffer_errors", 2, "shape_mismatch"), ("request_errors", 0, "invalid_params")])
def test_a_vector_edited_to_expect_a_wrong_code_fails(conformance_server, name, step, code):
    vector = copy.deepcopy(VECTOR_SET[name])
    vector["steps"][step]["expect"][0]["body"]["code"] = code
    with pytest.raises(VectorFailed, match=f"step {step}"):
        replay(vector, *conformance_server, step_seconds=2)


def test_a_vector_expecting_a_wrong_field_fails(conformance_server):
    vector = copy.deepcopy(VECTOR_SET["flow_control"])
    vector["steps"][9]["expect"][0]["body"]["details"]["credit"] = 9
    with pytest.raises(VectorFailed, match="step 9"):
        replay(vector, *conformance_server, step_seconds=2)


def test_the_vector_files_are_the_reference_encoders_bytes():
    spec = importlib.util.spec_from_file_location("make_conformance_vectors", ROOT / "scripts" / "make_conformance_vectors.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    made = {vector.name: json.loads(json.dumps(vector.to_json())) for vector in maker.vectors()}
    assert made == VECTOR_SET


def test_every_stored_signature_is_hmac_of_tag_and_header_under_the_fixed_key():
    key = (CONFORMANCE / "key.txt").read_text().strip().encode()
    checked = 0
    for vector in VECTOR_SET.values():
        for step in vector["steps"]:
            frames = [bytes.fromhex(frame) for frame in step["send"]["frames"]]
            if step["send"]["replay"] == "restamp":
                assert frames[1] == hmac.new(key, frames[0] + frames[2], hashlib.sha256).hexdigest().encode()
                checked += 1
    assert checked > 50


def _codes_expected(vector) -> set[str]:
    text = json.dumps([step["expect"] for step in vector["steps"]])
    return set(re.findall(r'"code": "([a-z_]+)"', text))


def test_every_error_code_is_in_the_spec_and_in_a_vector_or_classified_client_side():
    readme = (ROOT / "protocol" / "README.md").read_text()
    client_side = json.loads((CONFORMANCE / "client_side.json").read_text())
    in_vectors = set().union(*(_codes_expected(vector) for vector in VECTOR_SET.values()))
    for code in error_codes():
        assert re.search(rf"^\| `{code}` \|", readme, re.MULTILINE), f"{code} has no row in the README's error table"
        assert code in in_vectors or code in client_side, f"{code} is in no vector and not classified client side"
    assert set(client_side) <= set(error_codes())
    assert not set(client_side) & in_vectors, "a code both replayed and classified client side"


def test_every_message_type_is_in_a_vector():
    sent = {step["send"]["header"]["type"] for vector in VECTOR_SET.values() for step in vector["steps"] if step["send"]["header"]}
    received = {expect["type"] for vector in VECTOR_SET.values() for step in vector["steps"] for expect in step["expect"]}
    assert set(REQUESTS) <= sent
    assert set(REPLIES) - {"progress"} <= received
    assert any(expect["type"] == "progress" for step in VECTOR_SET["flow_control"]["steps"] for expect in step["expect"])


def test_partial_matching_is_what_the_readme_says():
    assert matches({"a": 1}, {"a": 1.0, "b": 2})
    assert not matches({"a": [1]}, {"a": [1, 2]})
    assert not matches({"a": True}, {"a": 1})
    assert not matches({"a": None}, {"a": 0})
