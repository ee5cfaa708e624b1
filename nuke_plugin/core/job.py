"""Everything one send needs, from the node's knob values and facts about its input, as one value."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from framebridge.protocol.errors import InvalidParams
from framebridge.protocol.session import ConnectionSettings

from .layers import LayerPlan, plan_layers
from .requests import BridgeSettings, build_params, choose_frames, settings_from_knobs

__all__ = ["JobRequest", "connection_settings", "default_output_folder", "plan_job", "contiguous_runs", "choose_view",
           "check_full_resolution"]


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
    view: str = "main"

    @property
    def working_space(self) -> str | None:
        """The script's working space when it is not plain linear (see :mod:`.colour`)."""
        return (self.shot.get("colour") or {}).get("working_space")


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


def choose_view(requested: str, views: Iterable[str]) -> str:
    """The one view a send renders: the node's ``view`` knob, or the script's first view when it is empty."""
    views = list(views)
    view = requested.strip() or (views[0] if views else "main")
    if views and view not in views:
        raise InvalidParams(f"the script has no view {view!r}", details={"allowed": views},
                            fix=f"set the node's view knob to one of {', '.join(views)} (or leave it empty)")
    return view


def check_full_resolution(proxy: bool) -> None:
    """Refuse a send in proxy mode: the capture would be rendered at proxy scale and the results read back so."""
    if proxy:
        raise InvalidParams("the script is in proxy mode, so the input would be sent at proxy resolution",
                            fix="turn proxy mode off (Viewer's proxy toggle or Project Settings) and send again")


def plan_job(values: Mapping[str, Any], *, input_first: int, input_last: int, channels: Iterable[str], fps: float,
             width: int, height: int, script_path: str = "", node_name: str = "FrameBridge",
             colour: Mapping[str, str] | None = None, view: str = "main") -> JobRequest:
    """A checked :class:`JobRequest` from knob values (animated ones sampled) and the input's range and channels.

    ``colour`` is the script's working space and OCIO config (``shot["colour"]``), None for plain linear.
    """
    settings = settings_from_knobs(values)
    frames = choose_frames(str(values.get("range_mode", "input")), input_first, input_last, str(values.get("frames", "")))
    layers = plan_layers(settings.op, settings.conditions, settings.op == "restyle" and settings.temporal, channels)
    output = str(values.get("output_folder", "")).strip() or default_output_folder(script_path, node_name, settings.op)
    shot: dict[str, Any] = {"fps": float(fps), "resolution": [int(width), int(height)], "frame_range": [frames[0], frames[-1]]}
    if colour:
        shot["colour"] = dict(colour)
    return JobRequest(
        op=settings.op,
        backend=settings.backend,
        frames=tuple(frames),
        params=build_params(settings),
        shot=shot,
        layers=layers,
        output_folder=output,
        connection=connection_settings(values),
        settings=settings,
        view=view,
    )
