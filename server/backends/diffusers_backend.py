"""The ``diffusers`` restyle backend: Stable Diffusion (1.5 or XL) ControlNet img2img, and AnimateDiff video-to-video.

Weights come only from the models config (:mod:`framebridge.server.models`): the
family's base pipeline folder (``restyle.<family>.base``), one ControlNet per
condition name (``restyle.<family>.controlnets.<name>``), LoRA files (``loras.<name>``)
and for ``animatediff`` mode the motion adapter (``restyle.animatediff.motion_adapter``).
Everything loads once and stays loaded; torch and diffusers are imported in :meth:`load`.

``frames`` mode restyles each frame on its own with its own seed, so a frame's result
never depends on which window it arrived in (the cache relies on that).
``animatediff`` mode runs overlapping windows of frames through the motion model and
cross-fades the overlaps; each window's noise comes from its first frame's seed.

Plates of any size are scaled down to at most ``max_side`` pixels on the long side
(never up), padded by repeating the edge to a multiple of the VAE's factor, and the
result is cropped and scaled back to the plate's exact size.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from framebridge.protocol.errors import InvalidParams, ModelError, ModelNotFound
from framebridge.server.models import ModelsConfig, load_config, package_installed, report, resolve
from framebridge.server.restyle.backend import RestyleBackend, StyleRequest

__all__ = ["DiffusersBackend", "FAMILIES", "MODES", "window_spans"]

FAMILIES = ("sd15", "sdxl")
MODES = ("frames", "animatediff")
DEFAULT_MAX_SIDE = {"sd15": 768, "sdxl": 1024}
CODE_VERSION = "diffusers-backend-1"
MODEL_PACKAGES = ("torch", "diffusers", "transformers")
INSTALL_LINE = "pip install 'framebridge[models]'"


def window_spans(count: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, stop)`` spans of at most ``size`` frames covering ``count`` frames, neighbours sharing ``overlap``.

    The last span is moved back to end on the last frame, so every span is full length.
    """
    if count <= size:
        return [(0, count)]
    stride = size - overlap
    starts = list(range(0, count - size, stride)) + [count - size]
    return [(start, start + size) for start in starts]


def _blend_weights(start: int, stop: int, count: int, size: int) -> np.ndarray:
    """Cross-fade weights for a span: rising from its start and falling to its end where a neighbour overlaps."""
    offsets = np.arange(stop - start, dtype=np.float32)
    rising = offsets + 1 if start > 0 else np.full_like(offsets, size)
    falling = (stop - start) - offsets if stop < count else np.full_like(offsets, size)
    return np.minimum(rising, falling)


class DiffusersBackend(RestyleBackend):
    """Restyles frames with diffusers pipelines on CUDA (fp16) when present, else the CPU (fp32)."""

    name: ClassVar[str] = "diffusers"

    def __init__(self, config: ModelsConfig | None = None, device: str | None = None):
        self._config = config
        self._requested_device = device
        self._lock = threading.RLock()
        self._torch: Any = None
        self._device = ""
        self._dtype: Any = None
        self._dtype_argument: dict[str, Any] = {}
        self._bases: dict[str, Any] = {}  # family -> base text-to-image pipeline (its components are shared)
        self._controlnets: dict[tuple[str, str], Any] = {}
        self._motion_unet: Any = None
        self._pipelines: dict[tuple[str, str, tuple[str, ...]], Any] = {}
        self._loaded_loras: dict[int, set[str]] = {}  # id(unet) -> adapter names loaded into it
        self._loaded_roles: list[str] = []
        self._version = ""

    @property
    def config(self) -> ModelsConfig:
        if self._config is None:
            self._config = load_config()
        return self._config

    @property
    def version(self) -> str:
        """Code, diffusers and torch versions, device and dtype, and a digest of the configured models.

        The digest covers each role's source and configured weight (LoRAs) and its files' names,
        sizes and times. Before :meth:`load` the device and dtype are the ones it will pick.
        """
        if not self._version:
            digest = hashlib.sha256()
            for role in sorted(self.config.entries):
                entry = self.config.entries[role]
                digest.update(f"{role}={entry.source}@{entry.weight}".encode())
                try:
                    where = resolve(role, self.config)
                except ModelError:
                    continue
                files = sorted(where.rglob("*")) if where.is_dir() else [where]
                for file in files:
                    if file.is_file() and file.suffix in (".json", ".safetensors", ".bin", ".txt"):
                        stat = file.stat()
                        digest.update(f"{file.relative_to(where.parent)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            device = self._device or self._expected_device()
            self._version = (
                f"{CODE_VERSION}+diffusers-{importlib.metadata.version('diffusers')}"
                f"+torch-{importlib.metadata.version('torch')}+{device}-{_dtype_name(device)}+models-{digest.hexdigest()[:16]}"
            )
        return self._version

    def describe(self) -> dict[str, Any]:
        """Params, and what the models config offers; a broken config is reported, not raised."""
        description: dict[str, Any] = {
            "summary": "Stable Diffusion 1.5/XL ControlNet img2img and AnimateDiff video-to-video ControlNet, local weights only",
            "params": {
                "family": {"type": "str", "default": "sd15", "choices": list(FAMILIES)},
                "mode": {"type": "str", "default": "frames", "choices": list(MODES),
                         "doc": "frames: each frame on its own; animatediff: overlapping windows through a motion model (sd15)"},
                "loras": {"type": "list[str] | dict[str, float]", "default": [],
                          "doc": "names from [loras] in the models config, optionally with weights overriding the config's"},
                "window": {"type": "int", "default": 16, "min": 2, "max": 32, "doc": "animatediff frames per window"},
                "overlap": {"type": "int", "default": 4, "min": 0, "max": 31, "doc": "animatediff frames shared by neighbouring windows"},
                "max_side": {"type": "int", "default": None, "min": 64, "max": 4096, "units": "px",
                             "doc": "longest side the model works at; larger plates are scaled down and back; default "
                                    + ", ".join(f"{family} {side}" for family, side in DEFAULT_MAX_SIDE.items())},
            },
            "uses": ["prompt", "negative_prompt", "strength", "seed", "guidance_scale", "steps", "conditions", "condition_weights"],
            "models": list(self._loaded_roles),
            "device": self._device or "not loaded",
        }
        missing = [package for package in MODEL_PACKAGES if not package_installed(package)]
        if missing:
            description.update(version=CODE_VERSION, available=False, error=f"missing packages: {', '.join(missing)}",
                               install=INSTALL_LINE)
            return description
        try:
            config = self.config
        except ModelError as error:
            description.update(version=CODE_VERSION, available=False, error=str(error))
            return description
        description.update(
            # Describing never imports torch: the device (and so the full version) is known once loaded.
            version=self._version or CODE_VERSION,
            available=any(status.state == "present" for status in report(config) if status.role.endswith(".base")),
            conditions={family: config.names(f"restyle.{family}.controlnets") for family in FAMILIES},
            loras=config.names("loras"),
            config=str(config.path),
        )
        return description

    def check_options(self, options: dict[str, Any]) -> None:
        """Validate this backend's params up front; raises InvalidParams (or ModelNotFound for unconfigured weights)."""
        allowed = {"family", "mode", "loras", "window", "overlap", "max_side"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise InvalidParams(f"the diffusers backend has no params {unknown}", details={"allowed": sorted(allowed)})
        family, mode = options.get("family", "sd15"), options.get("mode", "frames")
        if family not in FAMILIES:
            raise InvalidParams(f"unknown family {family!r}", details={"allowed": list(FAMILIES)})
        if mode not in MODES:
            raise InvalidParams(f"unknown mode {mode!r}", details={"allowed": list(MODES)})
        if mode == "animatediff" and family != "sd15":
            raise InvalidParams("animatediff mode runs on the sd15 family only", details={"allowed": ["sd15"]})
        for name in ("window", "overlap", "max_side"):
            if name in options and (type(options[name]) is not int):
                raise InvalidParams(f"{name} must be an integer, not {type(options[name]).__name__}", details={"param": name})
        window, overlap = options.get("window", 16), options.get("overlap", 4)
        if not 2 <= window <= 32 or not 0 <= overlap < window:
            raise InvalidParams(f"window must be 2..32 and overlap 0..window-1, got window {window}, overlap {overlap}")
        if not 64 <= options.get("max_side", 64) <= 4096:
            raise InvalidParams(f"max_side must be 64..4096, got {options['max_side']}")
        self._lora_weights(options)
        resolve(f"restyle.{family}.base", self.config)
        if mode == "animatediff":
            resolve("restyle.animatediff.motion_adapter", self.config)

    def check_conditions(self, names: list[str], options: dict[str, Any]) -> None:
        """Every condition name must have a ControlNet configured for the family; raises InvalidParams naming them."""
        family = options.get("family", "sd15")
        configured = self.config.names(f"restyle.{family}.controlnets")
        unknown = sorted(set(names) - set(configured))
        if unknown:
            raise InvalidParams(
                f"no {family} ControlNet is configured for conditions {unknown}",
                fix=f'add `{unknown[0]} = "<folder or Hugging Face id>"` under [restyle.{family}.controlnets] in {self.config.path}',
                details={"allowed": configured, "config": str(self.config.path)},
            )

    def _lora_weights(self, options: dict[str, Any]) -> dict[str, float]:
        """Requested LoRAs as name -> weight (the config's weight, 1.0 if it has none, unless overridden)."""
        requested = options.get("loras", [])
        if isinstance(requested, (list, tuple)):
            requested = {name: None for name in requested}
        if not isinstance(requested, dict) or not all(isinstance(name, str) for name in requested):
            raise InvalidParams("loras must be a list of names or a {name: weight} table", details={"param": "loras"})
        configured = self.config.names("loras")
        weights = {}
        for name, weight in requested.items():
            if name not in configured:
                raise InvalidParams(f"no LoRA named {name!r} in {self.config.path}", details={"allowed": configured})
            if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
                raise InvalidParams(f"LoRA weight for {name!r} must be a number", details={"param": "loras"})
            default = self.config.entries[f"loras.{name}"].weight
            weights[name] = float(weight if weight is not None else default if default is not None else 1.0)
        return weights

    def load(self) -> None:
        """Pick the device and load the first configured family's base pipeline; the rest loads on first use."""
        with self._lock:
            if self._torch is not None:
                return
            import torch
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging

            # A long-lived server's log is no place for loading progress bars and per-load notices.
            for library_logging in (diffusers_logging, transformers_logging):
                library_logging.set_verbosity_error()
                library_logging.disable_progress_bar()
            self._device = self._expected_device()
            self._dtype = getattr(torch, _dtype_name(self._device))
            self._dtype_argument = {_dtype_keyword(): self._dtype}
            self._torch = torch
            for family in FAMILIES:
                if f"restyle.{family}.base" in self.config.entries:
                    self._base(family)
                    break

    def _expected_device(self) -> str:
        """The requested device, else CUDA when torch sees one, else the CPU."""
        if self._requested_device:
            return self._requested_device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def run(self, window: list[StyleRequest]) -> list[np.ndarray]:
        if not window:
            return []
        self.load()
        options = window[0].options
        self.check_options(options)
        for request in window:
            self.check_conditions(sorted(request.conditions), options)
        with self._lock, self._torch.inference_mode():
            if options.get("mode", "frames") == "animatediff":
                return self._run_animatediff(window, options)
            return [self._run_frame(request, options) for request in window]

    # Loading

    def _base(self, family: str) -> Any:
        """The family's base pipeline, loaded once from its configured folder."""
        if family not in self._bases:
            from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

            role = f"restyle.{family}.base"
            path = resolve(role, self.config)
            with _loading(role, path):
                if family == "sd15":
                    pipeline = StableDiffusionPipeline.from_pretrained(
                        path, **self._dtype_argument, safety_checker=None, requires_safety_checker=False, local_files_only=True
                    )
                else:
                    pipeline = StableDiffusionXLPipeline.from_pretrained(path, **self._dtype_argument, local_files_only=True)
            self._bases[family] = pipeline.to(self._device)
            self._loaded_roles.append(role)
        return self._bases[family]

    def _controlnet(self, family: str, name: str) -> Any:
        if (family, name) not in self._controlnets:
            from diffusers import ControlNetModel

            role = f"restyle.{family}.controlnets.{name}"
            path = resolve(role, self.config)
            with _loading(role, path):
                model = ControlNetModel.from_pretrained(path, **self._dtype_argument, local_files_only=True)
            self._controlnets[(family, name)] = model.to(self._device)
            self._loaded_roles.append(role)
        return self._controlnets[(family, name)]

    def _motion(self) -> Any:
        """The sd15 UNet with the motion adapter's temporal layers, built from a fresh copy of the base UNet."""
        if self._motion_unet is None:
            from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

            role = "restyle.animatediff.motion_adapter"
            path = resolve(role, self.config)
            with _loading(role, path):
                adapter = MotionAdapter.from_pretrained(path, **self._dtype_argument, local_files_only=True)
            # A fresh UNet: the shared one may already carry LoRA layers, which the conversion cannot copy.
            base = resolve("restyle.sd15.base", self.config)
            with _loading("restyle.sd15.base", base):
                unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", **self._dtype_argument, local_files_only=True)
            self._motion_unet = UNetMotionModel.from_unet2d(unet, adapter).to(device=self._device, dtype=self._dtype)
            self._loaded_roles.append(role)
        return self._motion_unet

    def _pipeline(self, family: str, mode: str, names: tuple[str, ...]) -> Any:
        """The pipeline for a family, mode and ordered condition names, built from shared loaded components."""
        key = (family, mode, names)
        if key not in self._pipelines:
            import diffusers
            from diffusers import MultiControlNetModel

            components = dict(self._base(family).components)
            controlnets = [self._controlnet(family, name) for name in names]
            if mode == "animatediff":
                components = {name: components[name] for name in ("vae", "text_encoder", "tokenizer", "scheduler")}
                components.update(unet=self._motion(), motion_adapter=None)
                kind = "AnimateDiffVideoToVideoControlNetPipeline" if names else "AnimateDiffVideoToVideoPipeline"
            else:
                prefix = "StableDiffusionXL" if family == "sdxl" else "StableDiffusion"
                kind = f"{prefix}ControlNetImg2ImgPipeline" if names else f"{prefix}Img2ImgPipeline"
            if names:
                components["controlnet"] = MultiControlNetModel(controlnets)
            pipeline_class = getattr(diffusers, kind)
            pipeline = pipeline_class(**{name: value for name, value in components.items() if name in _init_names(pipeline_class)})
            pipeline.set_progress_bar_config(disable=True)
            self._pipelines[key] = pipeline
        return self._pipelines[key]

    def _apply_loras(self, pipeline: Any, weights: dict[str, float], suffix: str) -> None:
        """Load requested LoRA files into the pipeline's UNet once, then activate exactly those with their weights."""
        loaded = self._loaded_loras.setdefault(id(pipeline.unet), set())
        for name in weights:
            if name not in loaded:
                path = resolve(f"loras.{name}", self.config)
                folder, weight_name = (path, None) if path.is_dir() else (path.parent, path.name)
                with _loading(f"loras.{name}", path):
                    pipeline.load_lora_weights(folder, weight_name=weight_name, adapter_name=f"{name}{suffix}", local_files_only=True)
                loaded.add(name)
                if f"loras.{name}" not in self._loaded_roles:
                    self._loaded_roles.append(f"loras.{name}")
        if not loaded:
            return
        if weights:
            pipeline.enable_lora()
            pipeline.set_adapters([f"{name}{suffix}" for name in weights], adapter_weights=list(weights.values()))
        else:
            pipeline.disable_lora()

    # Running

    def _generator(self, seed: int) -> Any:
        return self._torch.Generator(self._device).manual_seed(seed)

    def _run_frame(self, request: StyleRequest, options: dict[str, Any]) -> np.ndarray:
        """One frame through the family's (ControlNet) img2img pipeline, at the plate's exact size."""
        image = np.asarray(request.image, dtype=np.float32)
        if int(request.steps * request.strength) < 1:
            return image.copy()  # no denoising step would run: the result is the input
        family = options.get("family", "sd15")
        names = tuple(sorted(request.conditions))
        pipeline = self._pipeline(family, "frames", names)
        self._apply_loras(pipeline, self._lora_weights(options), "")
        plate = _PlateFit(image.shape[:2], options.get("max_side", DEFAULT_MAX_SIDE[family]), pipeline.vae_scale_factor)
        arguments = dict(
            prompt=request.prompt, negative_prompt=request.negative_prompt or None, image=plate.to_model(image)[None],
            height=plate.height, width=plate.width, strength=request.strength, num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale, generator=self._generator(request.seed), output_type="np",
        )
        if names:
            arguments["control_image"] = [plate.to_model(request.conditions[name])[None] for name in names]
            arguments["controlnet_conditioning_scale"] = [float(request.condition_weights.get(name, 1.0)) for name in names]
        return plate.from_model(pipeline(**arguments).images[0])

    def _run_animatediff(self, window: list[StyleRequest], options: dict[str, Any]) -> list[np.ndarray]:
        """Overlapping spans of the window through AnimateDiff video-to-video, overlaps cross-faded."""
        first = window[0]
        shared = ("prompt", "negative_prompt", "strength", "guidance_scale", "steps", "condition_weights")
        for request in window:
            differing = [field for field in shared if getattr(request, field) != getattr(first, field)]
            if differing or request.image.shape != first.image.shape or sorted(request.conditions) != sorted(first.conditions):
                raise InvalidParams(
                    f"animatediff mode needs one prompt, strength, steps, guidance, size and condition set per window; "
                    f"frame {request.number} differs from frame {first.number} in {differing or ['size or conditions']}"
                )
        if int(first.steps * first.strength) < 1:
            return [np.asarray(request.image, dtype=np.float32).copy() for request in window]
        names = tuple(sorted(first.conditions))
        pipeline = self._pipeline("sd15", "animatediff", names)
        self._apply_loras(pipeline, self._lora_weights(options), "-motion")
        plate = _PlateFit(first.image.shape[:2], options.get("max_side", DEFAULT_MAX_SIDE["sd15"]), pipeline.vae_scale_factor)
        size, overlap = options.get("window", 16), options.get("overlap", 4)
        height, width = first.image.shape[:2]
        total = np.zeros((len(window), height, width, 3), dtype=np.float32)
        weight_sum = np.zeros(len(window), dtype=np.float32)
        for start, stop in window_spans(len(window), size, overlap):
            span = window[start:stop]
            arguments = dict(
                video=[plate.to_model(request.image) for request in span],
                prompt=first.prompt, negative_prompt=first.negative_prompt or None, height=plate.height, width=plate.width,
                strength=first.strength, num_inference_steps=first.steps, guidance_scale=first.guidance_scale,
                generator=self._generator(span[0].seed), output_type="np",
            )
            if names:
                arguments["conditioning_frames"] = [
                    [plate.to_model(request.conditions[name]) for request in span] for name in names
                ]
                arguments["controlnet_conditioning_scale"] = [float(first.condition_weights.get(name, 1.0)) for name in names]
            frames = pipeline(**arguments).frames[0]
            weights = _blend_weights(start, stop, len(window), size)
            for offset, (frame, weight) in enumerate(zip(frames, weights)):
                total[start + offset] += weight * plate.from_model(np.asarray(frame, dtype=np.float32))
                weight_sum[start + offset] += weight
        return [np.clip(total[index] / weight_sum[index], 0.0, 1.0) for index in range(len(window))]


def _dtype_name(device: str) -> str:
    """The torch dtype a device runs at: float16 on CUDA, float32 elsewhere."""
    return "float16" if device.startswith("cuda") else "float32"


@contextlib.contextmanager
def _loading(role: str, path: Path) -> Iterator[None]:
    """Turns a loader's OSError/ValueError (missing or unreadable files) into ModelNotFound naming the folder."""
    try:
        yield
    except (OSError, ValueError) as error:
        raise ModelNotFound(
            f"{role}: loading {path} failed: {error}",
            fix=f"{path} must hold complete weights as written by save_pretrained; "
            "re-copy the model or point the role at another folder (`framebridge models` checks them)",
            details={"role": role, "path": str(path)},
        ) from error


def _dtype_keyword() -> str:
    """``from_pretrained``'s dtype argument: diffusers renamed ``torch_dtype`` to ``dtype`` in 2026 and deprecated the old name."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def _init_names(pipeline_class: type) -> set[str]:
    """The component names a pipeline class's constructor takes."""
    import inspect

    return set(inspect.signature(pipeline_class.__init__).parameters) - {"self"}


class _PlateFit:
    """Maps a plate to the model's working size (scaled to ``max_side``, edge-padded to the VAE factor) and back."""

    def __init__(self, shape: tuple[int, int], max_side: int, multiple: int):
        self.plate_height, self.plate_width = shape
        scale = min(1.0, max_side / max(shape))
        self.scaled_height = max(1, round(self.plate_height * scale))
        self.scaled_width = max(1, round(self.plate_width * scale))
        self.height = -(-self.scaled_height // multiple) * multiple
        self.width = -(-self.scaled_width // multiple) * multiple

    def to_model(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        if image.shape[:2] != (self.scaled_height, self.scaled_width):
            image = cv2.resize(image, (self.scaled_width, self.scaled_height), interpolation=cv2.INTER_AREA)
        padding = ((0, self.height - self.scaled_height), (0, self.width - self.scaled_width), (0, 0))
        return np.pad(image, padding, mode="edge")

    def from_model(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)[: self.scaled_height, : self.scaled_width]
        if image.shape[:2] != (self.plate_height, self.plate_width):
            image = cv2.resize(image, (self.plate_width, self.plate_height), interpolation=cv2.INTER_CUBIC)
        return np.clip(image, 0.0, 1.0)
