"""The Nuke node on a studio network: its connection-file knob takes a client file exported by the server."""

import numpy as np

from fixtures.server import issue_client_file
from framebridge.nuke_plugin.core.job import connection_settings
from framebridge.nuke_plugin.core.session import run_session
from framebridge.protocol.exr import read_frame
from framebridge.protocol.session import connect


def test_a_node_pointing_at_a_client_file_publishes_results(studio_server, tmp_path):
    knobs = {"connection_file": str(issue_client_file(studio_server, "nuke-workstation")), "timeout": 30}
    client = connect(connection_settings(knobs))
    frames = {n: {"beauty": np.full((8, 12, 4), n / 10, np.float32)} for n in (1001, 1002)}
    try:
        result = run_session(client, "echo", sorted(frames), frames.__getitem__, output_folder=tmp_path / "out",
                             params={})
    finally:
        client.close()
    result.raise_for_failure()
    assert [path.name for path in result.paths] == ["frame_1001.exr", "frame_1002.exr"]
    np.testing.assert_allclose(read_frame(result.paths[1])["beauty"], frames[1002]["beauty"])


def test_test_connection_with_a_client_file_shows_the_server(nuke, studio_server, settle):
    from framebridge.nuke_plugin.host import entry, nodes

    node = nodes.create_bridge_node()
    node["connection_file"].setValue(str(issue_client_file(studio_server, "nuke-test-button")))
    node["timeout"].setValue(30)
    nuke.GUI = True
    entry.test_connection(node)
    settle()
    assert node["status"].value().startswith("server: FrameBridge 0.") and "echo" in node["status"].value()


def test_a_revoked_client_file_tells_the_artist_to_ask_for_a_new_one(nuke, studio_server, settle):
    from framebridge.nuke_plugin.host import entry, nodes
    from framebridge.server.cli import main

    path = issue_client_file(studio_server, "nuke-revoked")
    assert main(["connection", "revoke", "nuke-revoked", "--connection-file", str(studio_server.connection_file)]) == 0
    node = nodes.create_bridge_node()
    node["connection_file"].setValue(str(path))
    node["timeout"].setValue(30)
    nuke.GUI = True
    entry.test_connection(node)
    settle()
    assert "did not accept this client's key" in node["status"].value() and "new connection file" in node["status"].value()
