"""`framebridge run lipsync --audio ... --cues ...`: in-process and on a real server, every cue format."""

from __future__ import annotations

import json

import pytest
import soundfile

from framebridge.server.cli import main
from framebridge.server.lipsync.espeak import synthesise
from framebridge.server.lipsync.formats import read

SENTENCE = "Maybe Bob paid for the map."


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    line = synthesise(SENTENCE)
    path = tmp_path_factory.mktemp("audio") / "line.wav"
    soundfile.write(str(path), line.samples, line.sample_rate)
    return path


def test_cli_writes_rhubarb_json_from_a_wav_and_a_transcript(tmp_path, wav, capsys):
    out = tmp_path / "out" / "line.json"
    assert main(["run", "lipsync", "--audio", str(wav), "--transcript", SENTENCE, "--fps", "24", "--start", "1001",
                 "--cues", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["metadata"]["soundFile"] == str(wav.resolve())
    assert data["mouthCues"][0]["start"] == 0.0 and data["mouthCues"][-1]["end"] == data["metadata"]["duration"]
    assert "A" in {cue["value"] for cue in data["mouthCues"]}
    assert "(aligned) over frames 1001-" in capsys.readouterr().out


@pytest.mark.parametrize("suffix, extra", [(".tsv", []), (".xml", []), (".dat", ["--preston-blair"]),
                                           (".txt", ["--format", "tsv"])])
def test_cli_picks_the_format_from_the_extension_or_format(tmp_path, wav, suffix, extra):
    transcript = tmp_path / "line.txt.in"
    transcript.write_text(SENTENCE)
    out = tmp_path / f"line{suffix}"
    assert main(["run", "lipsync", "--audio", str(wav), "--transcript-file", str(transcript), "--fps", "24",
                 "--cues", str(out), *extra]) == 0
    fmt = "tsv" if suffix == ".txt" else None
    cues = read(out, fmt, fps=24).cues
    assert cues and cues[0].start == 0
    if suffix == ".dat":
        assert "MBP" in out.read_text()


def test_cli_runs_on_a_server_with_the_same_cues(tmp_path, wav, server):
    local, remote = tmp_path / "local.tsv", tmp_path / "remote.tsv"
    common = ["--audio", str(wav), "--transcript", SENTENCE, "--fps", "25"]
    assert main(["run", "lipsync", *common, "--cues", str(local)]) == 0
    assert main(["run", "lipsync", *common, "--cues", str(remote), "--connection-file", str(server.connection_file)]) == 0
    assert local.read_text() == remote.read_text()


def test_cli_errors_are_typed_and_name_the_fix(tmp_path, wav, capsys):
    assert main(["run", "lipsync", "--audio", str(wav), "--fps", "24", "--cues", str(tmp_path / "x.csv")]) == 2
    assert "unknown cue format 'csv'" in capsys.readouterr().err
    assert main(["run", "lipsync", "--audio", str(tmp_path / "none.wav"), "--fps", "24", "--cues", str(tmp_path / "x.json")]) == 2
    assert "[bad_audio]" in capsys.readouterr().err
    assert main(["run", "lipsync", "--audio", str(wav), "--cues", str(tmp_path / "x.json")]) == 2
    assert "--fps" in capsys.readouterr().err
