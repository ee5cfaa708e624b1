"""The demo's lip-sync stage against a real server: a spoken line, its Rhubarb JSON and the picture."""

from __future__ import annotations

import json

from framebridge.server.lipsync.showcase import speak_and_sync


def test_demo_stage_writes_the_line_its_cues_and_the_picture(server, tmp_path):
    with server.client() as client:
        showcase = speak_and_sync(client, tmp_path / "lipsync")
    assert showcase.wav.stat().st_size > 10_000 and showcase.picture.stat().st_size > 10_000
    data = json.loads(showcase.cue_file.read_text())
    assert data["metadata"]["soundFile"] == str(showcase.wav)
    assert len(data["mouthCues"]) == showcase.cues > 10 and showcase.method == "aligned"
    assert {"A", "D"} <= {cue["value"] for cue in data["mouthCues"]}
