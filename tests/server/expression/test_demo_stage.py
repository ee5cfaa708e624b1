"""The demo's expression stage: the astronaut animated through a real server, EXRs written, close-ups for the sheet."""

from __future__ import annotations

import numpy as np

from framebridge.protocol import exr
from framebridge.server.demo import DemoReport, _expression_stage, write_contact_sheet


def test_the_expression_stage_writes_every_frame_and_gives_face_close_ups(server, tmp_path):
    report = DemoReport()
    with server.client() as client:
        close_ups = _expression_stage(client, [1, 2, 3], tmp_path / "expression", report)
    assert not report.failed and len(report.expressed) == 3
    assert set(exr.read_layers(report.expressed[1])) == {"", "face_matte", "stmap"}
    assert sorted(close_ups) == [1, 2, 3] and all(80 < image.shape[0] < 300 for image in close_ups.values())
    # The middle frame is the open-mouthed one: it differs from the closed first frame.
    assert np.abs(close_ups[2] - close_ups[1]).max() > 0.05
    sheet = write_contact_sheet(tmp_path / "sheet.png", [1, 2, 3], {"expression": close_ups}, order=("expression",))
    assert sheet.exists()
