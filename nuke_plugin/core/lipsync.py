"""The FrameBridge LipSync node, without nuke: its knobs, WAV reading, the request, and the curves to set.

The node sends an audio file (WAV: Nuke's Python has no audio library, so a
small RIFF reader here covers 8/16/24/32-bit PCM and 32/64-bit float) to the
server's ``lipsync`` op with the script's fps, and gets back one stepped curve
per mouth shape (``shape_A`` .. ``shape_X``: 1 on the frames that show it) and a
smooth ``mouth_open`` curve (0 closed .. 1 wide open) to drive other nodes. In
plate mode it also sends input 0's frames (``mode: plate``) and gets the
lip-synced plate back, with a ``mouth_matte`` layer, as a Read shown by the node.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from framebridge.protocol.errors import InvalidParams, MediaError
from framebridge.protocol.session import ConnectionSettings

from .job import connection_settings, default_output_folder
from .knobs import SHOW_CHOICES, KnobSpec
from .marker import MARKER as BRIDGE_MARKER

__all__ = ["MARKER", "SHAPES", "SHAPE_KNOBS", "MODES", "LIPSYNC_KNOBS", "LIPSYNC_HELP", "GENERATE_COMMAND", "read_wav",
           "lipsync_params", "curves_from_results", "PlateRequest", "plate_request"]

MARKER = "framebridge_lipsync"
SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
SHAPE_KNOBS = tuple(f"shape_{shape}" for shape in SHAPES)
MODES = ("cues", "plate")
GENERATE_COMMAND = "from framebridge.nuke_plugin.host import lipsync; lipsync.generate(nuke.thisNode())"
_FORMATS = ("none", "json", "tsv", "xml", "dat")
LIPSYNC_HELP = (
    "FrameBridge LipSync: mouth cues from a dialogue WAV, as stepped shape_A..shape_X curves and a mouth_open curve "
    "on this node. Plate mode also sends input 0 (the plate's frame range, audio starting on 'start frame') and "
    "shows the lip-synced plate: a Read beside this node with rgba and a mouth_matte layer (where the mouth "
    "changed), wired into its second input; frames without a face come back unchanged and are named in the status."
)

LIPSYNC_KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("tab", "lipsync_tab", "LipSync"),
    KnobSpec("text", MARKER, "", "FrameBridge LipSync"),
    KnobSpec("text", BRIDGE_MARKER, "", ""),
    KnobSpec("enum", "mode", "mode", "cues", MODES,
             tooltip="cues: curves only; plate: also lip-sync input 0 and show the result"),
    KnobSpec("enum", "show", "show", "input", SHOW_CHOICES, new_line=False,
             tooltip="input: pass input 0 through; result: the last lip-synced plate's Read"),
    KnobSpec("file", "audio", "audio file", "", tooltip="the dialogue, a WAV file"),
    KnobSpec("multiline", "transcript", "transcript", "", tooltip="what is said; aligning to it gives better cues"),
    KnobSpec("int", "start_frame", "start frame", 1, tooltip="the frame the audio starts on"),
    KnobSpec("double", "offset", "offset", 0.0, new_line=False, tooltip="shift the audio by this many frames (fractional ok)"),
    KnobSpec("string", "extended_shapes", "extended shapes", "GHX", tooltip="which of G, H, X your mouth set has"),
    KnobSpec("enum", "cue_format", "export", "none", _FORMATS, tooltip="also write a Rhubarb cue file"),
    KnobSpec("file", "cue_file", "cue file", "", new_line=False),
    KnobSpec("string", "backend", "plate backend", "", tooltip="plate mode: empty for cpu (the plate's own mouth warped), or wav2lip"),
    KnobSpec("file", "output_folder", "output folder", "",
             tooltip="plate mode: empty for framebridge/<node>_lipsync next to the script; each run writes a new v001, v002, ..."),
    KnobSpec("file", "connection_file", "connection file", "", tooltip="empty: the default connection file"),
    KnobSpec("button", "generate", "Generate", GENERATE_COMMAND, tooltip="cues: set the curves; plate: also lip-sync input 0"),
    KnobSpec("text", "status", "", ""),
    *(KnobSpec("double", name, name, 0.0, tooltip=f"1 on frames showing mouth shape {name[-1]} (stepped)")
      for name in SHAPE_KNOBS),
    KnobSpec("double", "mouth_open", "mouth_open", 0.0, tooltip="0 closed .. 1 wide open; link other nodes to it"),
)

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the rate of a WAV file (channels averaged)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"no audio file at {path}", fix="set the audio file knob to a WAV file")
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MediaError(f"{path} is not a WAV file", fix="convert the dialogue to WAV")
    chunks, position = {}, 12
    while position + 8 <= len(data):
        name, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        chunks.setdefault(name, data[position + 8:position + 8 + size])
        position += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks or len(chunks[b"fmt "]) < 16:
        raise MediaError(f"{path} has no fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunks[b"fmt "][:16])
    if tag == _EXTENSIBLE and len(chunks[b"fmt "]) >= 26:
        tag = struct.unpack("<H", chunks[b"fmt "][24:26])[0]
    width = bits // 8
    raw = chunks[b"data"]
    if channels < 1 or width < 1:
        raise MediaError(f"{path} declares {channels} channels of {bits} bits")
    raw = raw[:len(raw) - len(raw) % (width * channels)]
    if tag == _FLOAT and bits in (32, 64):
        samples = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float32)
    elif tag == _PCM and bits == 8:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits in (16, 32):
        samples = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float32) / float(2 ** (bits - 1))
    elif tag == _PCM and bits == 24:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        samples = (np.where(values >= 1 << 23, values - (1 << 24), values) / float(1 << 23)).astype(np.float32)
    else:
        raise MediaError(f"{path}: WAV format {tag} with {bits} bits is not supported", fix="save as 16/24-bit PCM or float WAV")
    return np.ascontiguousarray(samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)), int(rate)


def lipsync_params(values: Mapping[str, Any], sample_rate: int, fps: float) -> dict[str, Any]:
    """The ``lipsync`` op's params from the node's knob values and the script's fps."""
    extended = str(values.get("extended_shapes", "GHX")).strip().upper()
    params: dict[str, Any] = {"sample_rate": int(sample_rate), "fps": float(fps), "start_frame": int(values["start_frame"]),
                              "offset": float(values.get("offset", 0.0)), "extended_shapes": extended,
                              "sound_file": str(values.get("audio", ""))}
    transcript = str(values.get("transcript", "")).strip()
    if transcript:
        params["transcript"] = transcript
    cue_format = str(values.get("cue_format", "none"))
    if cue_format != "none":
        if not str(values.get("cue_file", "")).strip():
            raise InvalidParams(f"export {cue_format} needs a cue file", fix="set the cue file knob, or export none")
        params["format"] = cue_format
    return params


def curves_from_results(metas: Mapping[int, Mapping[str, Any]], frames: Iterable[int]) -> dict[str, list[tuple[int, float]]]:
    """Knob name -> keys: stepped 0/1 per shape (a key where it changes, and at both ends), mouth_open every frame."""
    frames = sorted(frames)
    missing = [frame for frame in frames if frame not in metas]
    if missing:
        raise MediaError(f"the server returned no cue for frames {missing[:5]}")
    curves: dict[str, list[tuple[int, float]]] = {}
    for shape, name in zip(SHAPES, SHAPE_KNOBS):
        values = [1.0 if metas[frame]["shape"] == shape else 0.0 for frame in frames]
        curves[name] = [(frame, value) for index, (frame, value) in enumerate(zip(frames, values))
                        if index in (0, len(frames) - 1) or value != values[index - 1]]
    curves["mouth_open"] = [(frame, float(metas[frame]["mouth_open"])) for frame in frames]
    return curves


@dataclass(frozen=True)
class PlateRequest:
    """One plate-mode job: the plate's frames, the audio, params, where results go and which server."""

    frames: tuple[int, ...]
    audio: np.ndarray = field(repr=False)
    params: dict[str, Any]
    shot: dict[str, Any]
    backend: str
    output_folder: str
    connection: ConnectionSettings
    cue_file: str = ""
    view: str = "main"
    op: str = "lipsync"

    @property
    def working_space(self) -> str | None:
        """The script's working space when it is not plain linear (pixels outside the mouth come back as sent)."""
        return (self.shot.get("colour") or {}).get("working_space")


def plate_request(values: Mapping[str, Any], audio: np.ndarray, sample_rate: int, *, first: int, last: int, fps: float,
                  width: int, height: int, script_path: str = "", node_name: str = "LipSync",
                  colour: Mapping[str, str] | None = None, view: str = "main") -> PlateRequest:
    """The plate-mode job for input 0's frames ``first``..``last`` from the node's knob values and its audio."""
    params = {**lipsync_params(values, sample_rate, fps), "mode": "plate"}
    output = str(values.get("output_folder", "")).strip() or default_output_folder(script_path, node_name, "lipsync")
    shot: dict[str, Any] = {"fps": float(fps), "resolution": [int(width), int(height)], "frame_range": [int(first), int(last)]}
    if colour:
        shot["colour"] = dict(colour)
    return PlateRequest(tuple(range(int(first), int(last) + 1)), audio, params, shot, str(values.get("backend", "")).strip(),
                        output, connection_settings(values), str(values.get("cue_file", "")).strip(), view)
