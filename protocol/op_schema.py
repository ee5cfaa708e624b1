"""The schema of an op's entry in ``capabilities``, and the check every op's description passes.

    {"summary": str,
     "params": {name: PARAM},
     "inputs": [BUFFER],        per-frame buffers the op reads
     "outputs": [BUFFER],       buffers of each result
     "job_buffers": [BUFFER],   buffers a submit may carry for the whole job ([] when none)
     "meta": {key: str},        what each key of a result's meta says
     "backends": [str] or {name: map}}

    PARAM  = {"type": TYPE, "default": value, "min": number, "max": number, "allowed" (or "choices"): [value],
              "units": str, "required": bool, "doc" (or "help"): str, "backends": [str]}     only "type" is required
    TYPE   = terms of TYPE_TERMS joined by " | ", e.g. "float | keyframes"
    BUFFER = {"name": str, "dtypes": [dtype], "channels": [int] or None, "shape": str, "required": bool,
              "doc": str}        name "*" is any name, "<word>" a placeholder part; channels 1 is (H, W) or (H, W, 1),
                                 None a buffer that is not an image (its shape says what it is)

A ``default`` of None means the value is derived at run time (``doc`` says how).
The same schema is documented in protocol/README.md (*Capabilities*), and each
op's section there is checked against its description.
"""

from __future__ import annotations

from typing import Any, Callable

from .buffers import ALLOWED_DTYPES

__all__ = ["TYPE_TERMS", "PARAM_KEYS", "BUFFER_KEYS", "DESCRIPTION_KEYS", "problems", "type_matches"]


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


TYPE_TERMS: dict[str, Callable[[Any], bool]] = {
    "bool": lambda value: type(value) is bool,
    "int": lambda value: type(value) is int,
    "float": _number,
    "str": lambda value: isinstance(value, str),
    "keyframes": lambda value: isinstance(value, dict) and all(isinstance(key, str) for key in value),
    "list[int]": _list_of(lambda item: type(item) is int),
    "list[float]": _list_of(_number),
    "list[str]": _list_of(lambda item: isinstance(item, str)),
    "dict[str, float]": lambda value: isinstance(value, dict) and all(isinstance(k, str) and _number(v) for k, v in value.items()),
    "[float, float]": lambda value: isinstance(value, list) and len(value) == 2 and all(_number(item) for item in value),
    "[int, int]": lambda value: isinstance(value, list) and len(value) == 2 and all(type(item) is int for item in value),
}
PARAM_KEYS = {"type", "default", "min", "max", "allowed", "choices", "units", "required", "doc", "help", "backends"}
BUFFER_KEYS = {"name", "dtypes", "channels", "shape", "required", "doc"}
DESCRIPTION_KEYS = {"summary", "params", "inputs", "outputs", "job_buffers", "meta", "backends", "default_backend"}


def type_matches(type_text: str, value: Any) -> bool:
    """Whether ``value`` is one of the terms of ``type_text`` (unknown terms match nothing)."""
    return any(TYPE_TERMS.get(term.strip(), lambda _: False)(value) for term in type_text.split("|"))


def problems(name: str, description: Any) -> list[str]:
    """Every way an op's ``capabilities`` entry breaks the schema; empty when it conforms."""
    if not isinstance(description, dict):
        return [f"{name}: the description must be a map"]
    found = [f"{name}: unknown key {key!r}" for key in sorted(set(description) - DESCRIPTION_KEYS)]
    found += [f"{name}: missing key {key!r}" for key in sorted(DESCRIPTION_KEYS - {"default_backend"} - set(description))]
    if not isinstance(description.get("summary"), str) or not description.get("summary"):
        found.append(f"{name}: summary must be a non-empty string")
    params = description.get("params")
    if not isinstance(params, dict):
        found.append(f"{name}: params must be a map")
    else:
        for param, spec in params.items():
            found += _param_problems(f"{name}.params.{param}", spec)
    for kind in ("inputs", "outputs", "job_buffers"):
        buffers = description.get(kind)
        if not isinstance(buffers, list):
            found.append(f"{name}: {kind} must be a list of buffer maps")
            continue
        for index, spec in enumerate(buffers):
            found += _buffer_problems(f"{name}.{kind}[{index}]", spec)
    meta = description.get("meta")
    if not (isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
        found.append(f"{name}: meta must map each result meta key to what it says")
    backends = description.get("backends")
    if not (isinstance(backends, dict) or (isinstance(backends, list) and backends
                                            and all(isinstance(b, str) for b in backends))):
        found.append(f"{name}: backends must be a list of names or a map by name")
    return found


def _param_problems(where: str, spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: must be a map"]
    found = [f"{where}: unknown key {key!r}" for key in sorted(set(spec) - PARAM_KEYS)]
    type_text = spec.get("type")
    if not isinstance(type_text, str) or not all(term.strip() in TYPE_TERMS for term in type_text.split("|")):
        return found + [f"{where}: type {type_text!r} is not made of {sorted(TYPE_TERMS)}"]
    low, high = spec.get("min"), spec.get("max")
    for bound in ("min", "max"):
        if bound in spec and not _number(spec[bound]):
            found.append(f"{where}: {bound} must be a number")
    if _number(low) and _number(high) and low > high:
        found.append(f"{where}: min {low} is above max {high}")
    allowed = spec.get("allowed", spec.get("choices"))
    if allowed is not None and not (isinstance(allowed, list) and allowed):
        found.append(f"{where}: allowed must be a non-empty list")
    if "default" not in spec and not spec.get("required"):
        found.append(f"{where}: needs a default or required: true")
    default = spec.get("default")
    if default is not None:
        if not type_matches(type_text, default):
            found.append(f"{where}: default {default!r} is not a {type_text}")
        elif _number(default) and type(default) is not bool:
            if (_number(low) and default < low) or (_number(high) and default > high):
                found.append(f"{where}: default {default!r} is outside {low}..{high}")
        if isinstance(default, str) and isinstance(allowed, list) and default not in allowed:
            found.append(f"{where}: default {default!r} is not one of {allowed}")
    for key in ("units", "doc", "help"):
        if key in spec and not isinstance(spec[key], str):
            found.append(f"{where}: {key} must be a string")
    return found


def _buffer_problems(where: str, spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where}: must be a map"]
    found = [f"{where}: unknown key {key!r}" for key in sorted(set(spec) - BUFFER_KEYS)]
    found += [f"{where}: missing key {key!r}" for key in ("name", "dtypes", "channels", "required") if key not in spec]
    if not isinstance(spec.get("name"), str) or not spec.get("name"):
        found.append(f"{where}: name must be a non-empty string")
    dtypes = spec.get("dtypes")
    if not (isinstance(dtypes, list) and dtypes and set(dtypes) <= set(ALLOWED_DTYPES)):
        found.append(f"{where}: dtypes must be a non-empty list of {list(ALLOWED_DTYPES)}")
    channels = spec.get("channels")
    if channels is not None and not (isinstance(channels, list) and channels
                                     and all(type(c) is int and c >= 1 for c in channels)):
        found.append(f"{where}: channels must be a list of channel counts, or None for a buffer that is no image")
    if channels is None and not isinstance(spec.get("shape"), str):
        found.append(f"{where}: a buffer that is no image needs a shape text")
    if type(spec.get("required")) is not bool:
        found.append(f"{where}: required must be true or false")
    return found
