"""The models config: which local weights each model role uses, and whether they are there.

FrameBridge never downloads weights. A TOML file names, per role, a local path or
a Hugging Face id that is already in the local cache (looked up with
``local_files_only``, so ``HF_HUB_OFFLINE`` machines work as they are)::

    [restyle.sd15]
    base = "~/models/stable-diffusion-v1-5"        # a diffusers pipeline folder
    [restyle.sd15.controlnets]
    depth = "lllyasviel/control_v11f1p_sd15_depth"  # a Hugging Face id in the local cache
    canny = "./controlnets/canny"                   # relative to this file
    [restyle.sdxl]
    base = "stabilityai/stable-diffusion-xl-base-1.0"
    [restyle.animatediff]
    motion_adapter = "guoyww/animatediff-motion-adapter-v1-5-2"
    [loras]
    ink = {path = "./loras/ink.safetensors", weight = 0.8}
    [estimators]
    depth = "depth-anything/Depth-Anything-V2-Small-hf"
    [expression]
    liveportrait = "~/models/LivePortrait/liveportrait"   # base_models/ and retargeting_models/ of the release
    [lipsync.wav2lip]
    checkpoint = "~/models/wav2lip/wav2lip_gan.pth"  # the official .pth, or a folder holding it

A role is the dotted key of one entry (``restyle.sd15.controlnets.depth``,
``loras.ink``). A value is a Hugging Face id when it reads ``owner/name`` and no such
folder exists next to the file; anything else is a path (absolute, ``~/...``, or
relative to the file). The file is found at ``--models-config``, else
``$FRAMEBRIDGE_MODELS``, else ``$XDG_CONFIG_HOME/framebridge/models.toml``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framebridge.protocol.errors import ModelError, ModelNotFound

__all__ = [
    "CONFIG_ENV",
    "ModelEntry",
    "ModelStatus",
    "ModelsConfig",
    "config_path",
    "load_config",
    "models_command",
    "report",
    "resolve",
    "package_installed",
]

CONFIG_ENV = "FRAMEBRIDGE_MODELS"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_ENTRY_KEYS = {"path", "weight"}
# Roles every install is told about, configured or not.
_WELL_KNOWN_ROLES = (
    "restyle.sd15.base",
    "restyle.sdxl.base",
    "restyle.animatediff.motion_adapter",
    "expression.liveportrait",
    "lipsync.wav2lip.checkpoint",
)
# A folder of LivePortrait's release files may be the release's own ``liveportrait/`` folder or a
# snapshot of the whole KwaiVGI/LivePortrait repository, which holds it one level down.
_LIVEPORTRAIT_ROLE = "expression.liveportrait"
_LIVEPORTRAIT_SUBFOLDER = "liveportrait"


@dataclass(frozen=True)
class ModelEntry:
    """One configured role: where its weights are said to be, and an optional weight (LoRAs)."""

    role: str
    source: str
    weight: float | None = None


@dataclass(frozen=True)
class ModelsConfig:
    """A parsed models config; ``path`` is where it was (or would be) read from."""

    path: Path
    entries: dict[str, ModelEntry] = field(default_factory=dict)

    def entry(self, role: str) -> ModelEntry:
        """The entry for ``role``, or :class:`ModelNotFound` saying how to add it."""
        if role not in self.entries:
            raise ModelNotFound(
                f"no model is configured for {role!r} in {self.path}",
                fix=_add_fix(role, self.path),
                details={"role": role, "config": str(self.path)},
            )
        return self.entries[role]

    def names(self, prefix: str) -> list[str]:
        """The last part of every configured role directly under ``prefix`` (e.g. ControlNet names)."""
        return sorted(role.rpartition(".")[2] for role in self.entries if role.rpartition(".")[0] == prefix)


@dataclass(frozen=True)
class ModelStatus:
    """One line of ``framebridge models``: a role, its source, whether it is usable, and the fix if not."""

    role: str
    source: str | None
    state: str  # "present", "missing" or "not configured"
    path: Path | None = None
    fix: str | None = None


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the models config is read from: the explicit path, ``$FRAMEBRIDGE_MODELS``, or the XDG default."""
    if explicit:
        return Path(explicit).expanduser().absolute()
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser().absolute()
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "framebridge" / "models.toml"


def load_config(path: str | os.PathLike[str] | None = None) -> ModelsConfig:
    """Read the models config; an absent default file means nothing is configured.

    A file named explicitly (argument or environment) must exist.
    """
    chosen = config_path(path)
    if not chosen.is_file():
        if path or os.environ.get(CONFIG_ENV):
            raise ModelNotFound(
                f"models config {chosen} does not exist",
                fix=f"create {chosen} (see `framebridge models` for the roles), or point --models-config at another file",
                details={"config": str(chosen)},
            )
        return ModelsConfig(chosen)
    try:
        document = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"models config {chosen} is not valid TOML: {error}", details={"config": str(chosen)}) from error
    entries: dict[str, ModelEntry] = {}
    _collect(document, "", chosen, entries)
    return ModelsConfig(chosen, entries)


def _collect(table: dict[str, Any], prefix: str, path: Path, entries: dict[str, ModelEntry]) -> None:
    """Flatten nested TOML tables into dotted roles; a leaf is a string or a ``{path, weight}`` table."""
    for key, value in table.items():
        role = f"{prefix}{key}"
        if isinstance(value, str):
            entries[role] = ModelEntry(role, value)
        elif isinstance(value, dict) and "path" in value:
            unknown = sorted(set(value) - _ENTRY_KEYS)
            weight = value.get("weight")
            if unknown or not isinstance(value["path"], str) or not (weight is None or isinstance(weight, (int, float))):
                raise ModelError(
                    f"models config {path}: {role} must be {{path = \"...\", weight = <number>}}, got keys {sorted(value)}",
                    details={"config": str(path), "role": role},
                )
            entries[role] = ModelEntry(role, value["path"], None if weight is None else float(weight))
        elif isinstance(value, dict):
            _collect(value, f"{role}.", path, entries)
        else:
            raise ModelError(
                f"models config {path}: {role} must be a path or Hugging Face id string, not {type(value).__name__}",
                details={"config": str(path), "role": role},
            )


def _required_files(role: str) -> tuple[str, ...]:
    """Files a role's folder must hold to be loadable; empty when any existing folder or file will do."""
    if role.startswith("restyle.") and role.endswith(".base"):
        return ("model_index.json",)
    if ".controlnets." in role or role.endswith(".motion_adapter"):
        return ("config.json",)
    if role == _LIVEPORTRAIT_ROLE:
        from framebridge.server.liveportrait.checkpoints import CHECKPOINT_FILES

        return tuple(CHECKPOINT_FILES.values())
    return ()


def _weights_root(role: str, where: Path) -> Path:
    """The folder a role's required files are looked for in: ``where``, or the release subfolder a repository snapshot keeps them in."""
    nested = where / _LIVEPORTRAIT_SUBFOLDER
    if role == _LIVEPORTRAIT_ROLE and nested.is_dir() and not (where / "base_models").is_dir():
        return nested
    return where


def _missing_files_fix(role: str, where: Path, missing: list[str]) -> str:
    """How to supply the files a role's folder lacks."""
    if role == _LIVEPORTRAIT_ROLE:
        places = ", ".join(str(where / name) for name in missing)
        return (
            f"copy the official LivePortrait release files to {places} (from the KwaiVGI/LivePortrait weights' "
            "liveportrait/ folder: `hf download KwaiVGI/LivePortrait --include 'liveportrait/*'` on a machine with internet)"
        )
    return f"{where} must be a diffusers folder as written by save_pretrained (with {', '.join(missing)})"


def _component_files(class_name: str) -> tuple[str, ...]:
    """The config file a pipeline component's folder must hold, by its class; model classes also need weights."""
    if "Scheduler" in class_name:
        return ("scheduler_config.json",)
    if "Tokenizer" in class_name:
        return ("tokenizer_config.json",)
    if "FeatureExtractor" in class_name or "ImageProcessor" in class_name:
        return ("preprocessor_config.json",)
    return ("config.json", "*.safetensors or *.bin")


def _missing_component_files(folder: Path) -> list[str]:
    """Files (relative to ``folder``) that the components named in its ``model_index.json`` lack."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return [f"model_index.json (unreadable: {error})"]
    missing = []
    for component, value in sorted(index.items()):
        if component.startswith("_") or not isinstance(value, list) or len(value) != 2 or value[1] is None:
            continue
        for name in _component_files(str(value[1])):
            if name.startswith("*"):
                present = any((folder / component).glob("*.safetensors")) or any((folder / component).glob("*.bin"))
            else:
                present = (folder / component / name).is_file()
            if not present:
                missing.append(f"{component}/{name}")
    return missing


def _local_path(source: str, config: ModelsConfig) -> Path | None:
    """The local path ``source`` names, or None when it is a Hugging Face id (``owner/name``)."""
    candidate = Path(source).expanduser()
    if not candidate.is_absolute():
        candidate = config.path.parent / candidate
    if _HUB_ID.match(source) and not source.startswith(".") and not candidate.exists():
        return None
    return candidate


def _hub_cache() -> str | None:
    """The hub cache folder, read at call time so a changed ``HF_HUB_CACHE``/``HF_HOME`` is honoured."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def _from_hub_cache(role: str, repo_id: str) -> Path:
    """The cached snapshot of ``repo_id``; never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=_hub_cache()))
    except LocalEntryNotFoundError as error:
        from huggingface_hub import constants

        cache = _hub_cache() or constants.HF_HUB_CACHE
        raise ModelNotFound(
            f"{role}: {repo_id} is not in the Hugging Face cache ({cache})",
            fix=f"on a machine with internet run `hf download {repo_id}` and copy the cache here (or set HF_HOME), "
            "or point the role at a local folder",
            details={"role": role, "repo_id": repo_id, "cache": str(cache)},
        ) from error


def resolve(role: str, config: ModelsConfig | None = None) -> Path:
    """The local folder (or file) holding ``role``'s weights, checked to be loadable.

    Raises :class:`ModelNotFound` naming the missing role, folder or files and how to get them.
    """
    config = config if config is not None else load_config()
    entry = config.entry(role)
    local = _local_path(entry.source, config)
    where = _from_hub_cache(role, entry.source) if local is None else local
    if not where.exists():
        raise ModelNotFound(
            f"{role}: {where} does not exist",
            fix=f"put the model files in {where}, or change {role} in {config.path} to a folder or Hugging Face id you have",
            details={"role": role, "path": str(where), "config": str(config.path)},
        )
    where = _weights_root(role, where)
    missing = [name for name in _required_files(role) if not (where / name).is_file()]
    if role.endswith(".checkpoint") and where.is_dir() and not any(where.glob("*.pth")):
        raise ModelNotFound(
            f"{role}: {where} holds no .pth checkpoint",
            fix=f"put the checkpoint file in {where}, or point {role} at the file itself",
            details={"role": role, "path": str(where)},
        )
    if not missing and (where / "model_index.json").is_file():
        missing = _missing_component_files(where)
    if missing:
        raise ModelNotFound(
            f"{role}: {where} lacks {', '.join(missing)}",
            fix=_missing_files_fix(role, where, missing),
            details={"role": role, "path": str(where), "missing": missing},
        )
    return where


def report(config: ModelsConfig) -> list[ModelStatus]:
    """The state of every configured role, plus the well-known roles that are not configured."""
    statuses = []
    for role in sorted(config.entries):
        source = config.entries[role].source
        try:
            statuses.append(ModelStatus(role, source, "present", resolve(role, config)))
        except ModelNotFound as error:
            statuses.append(ModelStatus(role, source, "missing", fix=f"{error.message}; {error.fix}"))
    for role in _WELL_KNOWN_ROLES:
        if role not in config.entries:
            statuses.append(ModelStatus(role, None, "not configured", fix=_add_fix(role, config.path)))
    return statuses


def _add_fix(role: str, config_file: Path) -> str:
    """How to configure ``role``: the TOML line to add and where."""
    section, _, key = role.rpartition(".")
    return f'add `{key} = "<local folder or Hugging Face id>"` under [{section}] in {config_file}'


def models_command(args: Any) -> int:
    """``framebridge models``: print what each role resolves to; exit 1 when a configured role is missing.

    Reads ``args.models_config`` (a path or None).
    """
    try:
        config = load_config(getattr(args, "models_config", None))
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"models config: {config.path}{'' if config.path.is_file() else ' (not present)'}")
    statuses = report(config)
    width = max((len(status.role) for status in statuses), default=0)
    for status in statuses:
        print(f"  {status.role:<{width}}  {status.state:<14}  {status.path or status.source or ''}")
        if status.fix:
            print(f"  {'':<{width}}  fix: {status.fix}")
    return 1 if any(status.state == "missing" for status in statuses) else 0


def package_installed(package: str) -> bool:
    """Whether a package could be imported, found without importing it (a blocked or broken finder: no)."""
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False
