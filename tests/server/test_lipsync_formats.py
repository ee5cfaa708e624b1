"""Rhubarb's export formats: the documented layouts field by field, and round trips through each."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.server.lipsync.formats import FORMATS, CueFile, format_for, parse, read, render, write
from framebridge.server.lipsync.rules import Cue

# Rhubarb's documented example: a person saying "Hi".
HI = CueFile([Cue(0, 5, "X"), Cue(5, 27, "D"), Cue(27, 31, "C"), Cue(31, 43, "B"), Cue(43, 47, "X")], 47,
             "C:\\Users\\Daniel\\Desktop\\av\\hi\\hi.wav")


def test_tsv_lists_each_start_then_the_end_with_rest():
    assert render(HI, "tsv") == "0.00\tX\n0.05\tD\n0.27\tC\n0.31\tB\n0.43\tX\n0.47\tX\n"


def test_xml_matches_rhubarbs_layout():
    text = render(HI, "xml")
    assert text.splitlines() == [
        '<?xml version="1.0" encoding="utf-8"?>', "<rhubarbResult>", "  <metadata>",
        "    <soundFile>C:\\Users\\Daniel\\Desktop\\av\\hi\\hi.wav</soundFile>", "    <duration>0.47</duration>",
        "  </metadata>", "  <mouthCues>",
        '    <mouthCue start="0.00" end="0.05">X</mouthCue>', '    <mouthCue start="0.05" end="0.27">D</mouthCue>',
        '    <mouthCue start="0.27" end="0.31">C</mouthCue>', '    <mouthCue start="0.31" end="0.43">B</mouthCue>',
        '    <mouthCue start="0.43" end="0.47">X</mouthCue>', "  </mouthCues>", "</rhubarbResult>"]
    root = ElementTree.fromstring(text.encode())
    assert [cue.attrib for cue in root.iter("mouthCue")][1] == {"start": "0.05", "end": "0.27"}


def test_json_matches_rhubarbs_layout_and_parses_as_json():
    text = render(HI, "json")
    assert text.splitlines() == [
        "{", '  "metadata": {', '    "soundFile": "C:\\\\Users\\\\Daniel\\\\Desktop\\\\av\\\\hi\\\\hi.wav",',
        '    "duration": 0.47', "  },", '  "mouthCues": [',
        '    { "start": 0.00, "end": 0.05, "value": "X" },', '    { "start": 0.05, "end": 0.27, "value": "D" },',
        '    { "start": 0.27, "end": 0.31, "value": "C" },', '    { "start": 0.31, "end": 0.43, "value": "B" },',
        '    { "start": 0.43, "end": 0.47, "value": "X" }', "  ]", "}"]
    data = json.loads(text)
    assert list(data) == ["metadata", "mouthCues"] and list(data["metadata"]) == ["soundFile", "duration"]
    assert list(data["mouthCues"][0]) == ["start", "end", "value"]


def test_dat_is_moho_switch_data_with_frame_one_at_time_zero():
    assert render(HI, "dat", fps=24) == "MohoSwitch1\n1 X\n2 D\n7 C\n8 B\n11 X\n12 X\n"
    assert render(HI, "dat", fps=24, preston_blair=True) == "MohoSwitch1\n1 rest\n2 AI\n7 E\n8 etc\n11 rest\n12 rest\n"
    with pytest.raises(InvalidParams, match="24..100"):
        render(HI, "dat", fps=12)


def test_dat_drops_a_cue_starting_on_an_already_written_frame():
    cues = CueFile([Cue(0, 2, "X"), Cue(2, 3, "A"), Cue(3, 50, "D")], 50)
    assert render(cues, "dat", fps=24) == "MohoSwitch1\n1 X\n13 X\n"


def test_an_empty_animation_is_one_zero_length_rest_cue():
    empty = CueFile([], 0, "")
    assert json.loads(render(empty, "json"))["mouthCues"] == [{"start": 0.0, "end": 0.0, "value": "X"}]
    assert render(empty, "tsv") == "0.00\tX\n"


@pytest.mark.parametrize("fmt", ["json", "xml", "tsv", "dat"])
def test_every_format_round_trips(tmp_path, fmt):
    path = write(tmp_path / f"line.{fmt}", HI, fps=100)
    back = read(path, fps=100)
    assert back.cues == HI.cues and back.duration == HI.duration
    if fmt in ("json", "xml"):
        assert back.sound_file == HI.sound_file


def test_preston_blair_names_read_back_as_letters():
    text = render(HI, "dat", fps=100, preston_blair=True)
    assert [cue.shape for cue in parse(text, "dat", fps=100).cues] == ["X", "D", "C", "B", "X"]


def test_unknown_formats_and_broken_files_are_typed_errors(tmp_path):
    with pytest.raises(InvalidParams, match="unknown cue format 'csv'"):
        format_for("line.csv")
    assert format_for("line.txt", "TSV") == "tsv"
    with pytest.raises(MediaError, match="not a valid Rhubarb json"):
        parse('{"mouthCues": [{"start": "soon"}]}', "json")
    with pytest.raises(MediaError, match="MohoSwitch1"):
        parse("1 A\n", "dat")
    assert set(FORMATS) == {"json", "tsv", "xml", "dat"}
