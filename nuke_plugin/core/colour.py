"""The script's colour, for the server and for the result Read.

Captures are written ``raw``, so they hold the script's working-space values. The
shot carries that working space and the OCIO config defining it
(``shot["colour"] = {"working_space": ..., "ocio_config": ...}``); the server
converts to what its models see and back (``framebridge.server.colour``), so
results come back in the same working space and are read ``raw``. Nuke's built-in
configs are named ``fn-nuke_<OCIO built-in>`` and map to ``ocio://<built-in>``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from framebridge.protocol.errors import InvalidParams

__all__ = ["LINEAR_SPACES", "shot_colour", "result_colorspace"]

# Working spaces that are already the linear Rec.709 (sRGB primaries) the server assumes without a config.
LINEAR_SPACES = ("linear", "scene_linear", "default (linear)")
_BUILTIN_PREFIX = "fn-nuke_"


def _config(values: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The OCIO config the script uses: $OCIO wins (as in Nuke), then custom, then a built-in; None for nuke-default."""
    if environ.get("OCIO"):
        return environ["OCIO"]
    name = str(values.get("OCIO_config") or "nuke-default")
    if name == "custom":
        path = str(values.get("customOCIOConfigPath") or "").strip()
        if not path:
            raise InvalidParams("the script's OCIO config is 'custom' with no path",
                                fix="set Project Settings > Color > custom OCIO config path")
        return path
    if name.startswith(_BUILTIN_PREFIX):
        return "ocio://" + name[len(_BUILTIN_PREFIX):]
    if name == "nuke-default":
        return None
    raise InvalidParams(f"the server cannot locate Nuke's shipped OCIO config {name!r}",
                        fix="choose 'custom' with the config's path, or set $OCIO before starting Nuke")


def shot_colour(values: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str] | None:
    """``shot["colour"]`` from the Root's knob values; None when the script works in nuke-default's ``linear``."""
    working = str(values.get("workingSpaceLUT") or "linear").strip()
    config = _config(values, environ)
    if config is None:
        if working in LINEAR_SPACES:
            return None
        raise InvalidParams(f"working space {working!r} of the nuke-default config is not scene-linear",
                            fix="set Project Settings > Color > working space to linear, or use an OCIO config")
    return {"working_space": working, "ocio_config": config}


def result_colorspace(choices: Iterable[str], working_space: str | None) -> str | None:
    """The Read colorspace entry naming the working space (menus may prefix a family: ``ACES/ACES - ACEScg``), or None."""
    if not working_space:
        return None
    for choice in choices:
        if choice == working_space or choice.rsplit("/", 1)[-1] == working_space:
            return choice
    return None
