"""Loading the official LivePortrait ``.pth`` checkpoints into the networks, strictly.

The models config names one folder for the role ``expression.liveportrait``, laid out as
the official release (``liveportrait/`` in the KwaiVGI/LivePortrait weights)::

    base_models/appearance_feature_extractor.pth
    base_models/motion_extractor.pth
    base_models/warping_module.pth
    base_models/spade_generator.pth
    retargeting_models/stitching_retargeting_module.pth   # {retarget_shoulder, retarget_mouth, retarget_eye}

Each file is a state dict (the stitching file a dict of three); a leading ``module.``
(left by DataParallel training) is stripped from every key. Files are read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers. Every key must match the network's, name for name and shape for shape:
a mismatch is a :class:`ModelError` naming the file and the keys.

The release needs nothing else. A folder of networks trained at other widths (the test
suite's tiny ones) says so in an optional ``architecture.json`` beside them: nested
tables like :class:`Architecture`, absent values keeping the release's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framebridge.protocol.errors import ModelError
from framebridge.server.models import ModelsConfig, load_config, resolve

from .architecture import Architecture, architecture_from_dict

__all__ = ["ARCHITECTURE_FILE", "CHECKPOINT_FILES", "ROLE", "STITCHING_KEYS", "load_networks", "read_architecture", "read_state_dict", "strip_module_prefix", "weights_folder"]

ROLE = "expression.liveportrait"
CHECKPOINT_FILES = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}
STITCHING_KEYS = ("retarget_shoulder", "retarget_mouth", "retarget_eye")
ARCHITECTURE_FILE = "architecture.json"
_MODULE_PREFIX = "module."
_KEYS_SHOWN = 5


def weights_folder(config: ModelsConfig | None = None) -> Path:
    """The folder holding the release's files, or :class:`ModelNotFound` naming the missing file and where it goes."""
    return resolve(ROLE, config if config is not None else load_config())


def read_architecture(folder: Path) -> Architecture:
    """The networks' shapes: the release's, or those ``architecture.json`` in ``folder`` names."""
    path = folder / ARCHITECTURE_FILE
    if not path.is_file():
        return Architecture()
    try:
        return architecture_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise ModelError(f"{path} is not a valid LivePortrait architecture: {error}", details={"path": str(path)}) from error


def strip_module_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """The same state dict with a leading ``module.`` removed from each key."""
    return {key[len(_MODULE_PREFIX) :] if key.startswith(_MODULE_PREFIX) else key: value for key, value in state.items()}


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors in one ``.pth`` file, read without unpickling arbitrary objects."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike for a bad file
        raise ModelError(f"cannot read checkpoint {path}: {error}", details={"path": str(path)}) from error
    if not isinstance(state, dict):
        raise ModelError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict", details={"path": str(path)})
    return state


def _load_strict(network: Any, state: dict[str, Any], where: str) -> None:
    """Copy ``state`` into ``network``; every key and shape must match exactly."""
    import torch

    state = strip_module_prefix(state)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_type = sorted(key for key in set(state) & set(expected) if not isinstance(state[key], torch.Tensor))
    reshaped = sorted(
        key for key in set(state) & set(expected) if key not in wrong_type and tuple(state[key].shape) != tuple(expected[key].shape)
    )
    if missing or unexpected or wrong_type or reshaped:
        problems = [
            f"{label} {names[:_KEYS_SHOWN]}{' ...' if len(names) > _KEYS_SHOWN else ''}"
            for label, names in (("missing keys", missing), ("unexpected keys", unexpected), ("not tensors", wrong_type), ("wrong shapes", reshaped))
            if names
        ]
        raise ModelError(
            f"checkpoint {where} does not match LivePortrait's network: {'; '.join(problems)}",
            fix="use the official LivePortrait release files (the human model, not the animal one) unmodified",
            details={"path": where, "missing": missing, "unexpected": unexpected, "wrong_shapes": reshaped},
        )
    network.load_state_dict(state, strict=True)


def load_networks(folder: Path, architecture: Architecture | None = None) -> dict[str, Any]:
    """Build every network for ``architecture`` (the release's by default) and fill it from ``folder``, in eval mode, on the CPU.

    Returns the same mapping as :func:`networks.build_networks`.
    """
    from .networks import build_networks

    networks = build_networks(architecture or Architecture())
    for name, relative in CHECKPOINT_FILES.items():
        path = folder / relative
        state = read_state_dict(path)
        if name == "stitching_retargeting_module":
            absent = [key for key in STITCHING_KEYS if not isinstance(state.get(key), dict)]
            if absent:
                raise ModelError(
                    f"checkpoint {path} lacks {absent} (it must hold the dicts {list(STITCHING_KEYS)})",
                    details={"path": str(path), "missing": absent, "found": sorted(map(str, state))},
                )
            for key in STITCHING_KEYS:
                _load_strict(networks[name][key], state[key], f"{path} [{key}]")
                networks[name][key].eval()
        else:
            _load_strict(networks[name], state, str(path))
            networks[name].eval()
    return networks
