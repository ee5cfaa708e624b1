"""The loaded LivePortrait networks and the few calls the backend makes on them (torch).

Images go in as (N, 256, 256, 3) float32 0..1 numpy arrays and results come back as
numpy, so everything around the networks stays torch-free. On CUDA the warping module
and generator run in fp16 (autocast, as upstream); a frame that comes out non-finite or
black when its source is not is rendered again in fp32 (upstream's fp16 black frames).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .architecture import Architecture
from .checkpoints import load_networks

__all__ = ["LivePortraitModel", "Rendered", "looks_broken"]

log = logging.getLogger(__name__)

_BLACK_LEVEL = 2.0 / 255  # a rendered crop this dark on average, from a source that is not, is an fp16 failure


def looks_broken(rendered: np.ndarray, source: np.ndarray) -> bool:
    """True when a rendered crop is non-finite, or black while its source crop is not."""
    if not np.isfinite(rendered).all():
        return True
    return float(rendered.mean()) < _BLACK_LEVEL <= float(source.mean())


@dataclass(frozen=True)
class Rendered:
    """One generated crop and where it sampled the source crop from."""

    image: np.ndarray  # (S, S, 3) float32 0..1, S = the generator's output size
    flow: np.ndarray  # (h, w, 2) float32 source position in -1..1 crop coordinates for each output cell
    precision: str  # "fp16" or "fp32": what the kept result was rendered in


class LivePortraitModel:
    """The five networks on one device; ``half`` renders in fp16 with an fp32 fallback per frame."""

    def __init__(self, folder: Path, architecture: Architecture | None = None, device: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.half = self.device.type == "cuda"
        networks = load_networks(folder, architecture)
        self.appearance = networks["appearance_feature_extractor"].to(self.device)
        self.motion_extractor = networks["motion_extractor"].to(self.device)
        self.warping = networks["warping_module"].to(self.device)
        self.generator = networks["spade_generator"].to(self.device)
        mlps = networks["stitching_retargeting_module"]
        self.stitching_mlp = mlps["retarget_shoulder"].to(self.device)
        self.lip_mlp = mlps["retarget_mouth"].to(self.device)
        self.eye_mlp = mlps["retarget_eye"].to(self.device)

    def _tensor(self, images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2).to(self.device)

    def _autocast(self, half: bool):
        if half:
            return torch.autocast(device_type=self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def motion(self, crops: np.ndarray) -> list[dict[str, np.ndarray]]:
        """The motion extractor's raw outputs for each (256, 256, 3) crop (fp32 again if fp16 overflowed)."""
        images = self._tensor(crops)
        for half in (True, False) if self.half else (False,):
            with self._autocast(half):
                outputs = {name: value.float() for name, value in self.motion_extractor(images).items()}
            if all(bool(torch.isfinite(value).all()) for value in outputs.values()):
                break
        return [{name: value[index].cpu().numpy() for name, value in outputs.items()} for index in range(len(crops))]

    @torch.no_grad()
    def features(self, crop: np.ndarray) -> torch.Tensor:
        """The appearance feature volume (1, C, D, 64, 64) of one source crop, kept on the device in fp32."""
        image = self._tensor(crop[None])
        for half in (True, False) if self.half else (False,):
            with self._autocast(half):
                volume = self.appearance(image).float()
            if bool(torch.isfinite(volume).all()):
                break
        return volume

    @torch.no_grad()
    def _mlp(self, network: torch.nn.Module, features: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(np.asarray(features, np.float32)[None]).to(self.device)
        return network(inputs)[0].cpu().numpy().astype(np.float64)

    def stitching(self, features: np.ndarray) -> np.ndarray:
        """S's output (65,) for :func:`keypoints.stitching_input`."""
        return self._mlp(self.stitching_mlp, features)

    def retarget_eyes(self, features: np.ndarray) -> np.ndarray:
        """R_eye's keypoint offsets (21, 3) for :func:`keypoints.eye_retarget_input`."""
        return self._mlp(self.eye_mlp, features).reshape(-1, 3)

    def retarget_lips(self, features: np.ndarray) -> np.ndarray:
        """R_lip's keypoint offsets (21, 3) for :func:`keypoints.lip_retarget_input`."""
        return self._mlp(self.lip_mlp, features).reshape(-1, 3)

    def render(self, features: torch.Tensor, source_keypoints: np.ndarray, driven_keypoints: np.ndarray, source_crop: np.ndarray) -> Rendered:
        """Warp the source features from ``source_keypoints`` to ``driven_keypoints`` (21, 3) and decode."""
        if self.half:
            rendered = self._render(features, source_keypoints, driven_keypoints, half=True)
            if not looks_broken(rendered.image, source_crop):
                return rendered
            log.warning("LivePortrait fp16 render came out non-finite or black; rendering this frame in fp32")
        return self._render(features, source_keypoints, driven_keypoints, half=False)

    @torch.no_grad()
    def _render(self, features: torch.Tensor, source_keypoints: np.ndarray, driven_keypoints: np.ndarray, half: bool) -> Rendered:
        source = torch.from_numpy(np.asarray(source_keypoints, np.float32)[None]).to(self.device)
        driven = torch.from_numpy(np.asarray(driven_keypoints, np.float32)[None]).to(self.device)
        with self._autocast(half):
            warped = self.warping(features, kp_driving=driven, kp_source=source)
            image = self.generator(warped["out"])
        flow = warped["deformation"][0, ..., :2].float().mean(dim=0)  # depth-averaged (x, y) sampling position
        return Rendered(
            image=image[0].float().permute(1, 2, 0).cpu().numpy(),
            flow=flow.cpu().numpy(),
            precision="fp16" if half else "fp32",
        )
