"""Everything one send needs, from the node's knob values and facts about its input, as one value."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from framebridge.protocol.session import ConnectionSettings

from .layers import LayerPlan, plan_layers
from .requests import BridgeSettings, build_params, choose_frames, settings_from_knobs

__all__ = ["JobRequest", "connection_settings", "default_output_folder", "plan_job", "contiguous_runs"]


@dataclass(frozen=True)
class JobRequest:
    """One job: op, frames, params, shot, the layers to write, where results go and which server."""

    op: str
    backend: str
    frames: tuple[int, ...]
    params: dict[str, Any]
    shot: dict[str, Any]
    layers: LayerPlan
    output_folder: str
    connection: ConnectionSettings
    settings: BridgeSettings = field(repr=False, default_factory=BridgeSettings)


def connection_settings(values: Mapping[str, Any]) -> ConnectionSettings:
    """The server a node points at: its connection file (empty: the default one), address override and timeout."""
    return ConnectionSettings(str(values.get("connection_file", "")).strip(), str(values.get("address", "")).strip(),
                              timeout=float(values.get("timeout", ConnectionSettings.timeout)))


def default_output_folder(script_path: str, node_name: str, op: str, home: str | os.PathLike[str] | None = None) -> str:
    """``<script folder>/framebridge/<node>_<op>``; ``~/framebridge/<node>_<op>`` for an unsaved script."""
    base = Path(script_path).parent if script_path else Path(home or Path.home())
    return str(base / "framebridge" / f"{node_name}_{op}")


def contiguous_runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """``[1, 2, 3, 7, 9, 10]`` -> ``[(1, 3), (7, 7), (9, 10)]``: one Write execution per run."""
    runs: list[tuple[int, int]] = []
    for number in sorted(set(frames)):
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def plan_job(values: Mapping[str, Any], *, input_first: int, input_last: int, channels: Iterable[str], fps: float,
             width: int, height: int, script_path: str = "", node_name: str = "FrameBridge") -> JobRequest:
    """A checked :class:`JobRequest` from knob values (animated ones sampled) and the input's range and channels."""
    settings = settings_from_knobs(values)
    frames = choose_frames(str(values.get("range_mode", "input")), input_first, input_last, str(values.get("frames", "")))
    layers = plan_layers(settings.op, settings.conditions, settings.op == "restyle" and settings.temporal, channels)
    output = str(values.get("output_folder", "")).strip() or default_output_folder(script_path, node_name, settings.op)
    return JobRequest(
        op=settings.op,
        backend=settings.backend,
        frames=tuple(frames),
        params=build_params(settings),
        shot={"fps": float(fps), "resolution": [int(width), int(height)], "frame_range": [frames[0], frames[-1]]},
        layers=layers,
        output_folder=output,
        connection=connection_settings(values),
        settings=settings,
    )
