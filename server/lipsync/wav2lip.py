"""A Wav2Lip-compatible generator: the official module layout, its checkpoint loader, and its face crops.

The network (Prajwal et al., "A Lip Sync Expert Is All You Need", 2020) maps a
(1, 80, 16) mel window and a 6-channel 96x96 face (the crop with its lower half
zeroed, then the crop itself, BGR / 255) to a 96x96 BGR mouth region in 0..1. The
face encoder is seven blocks of conv + batch norm + ReLU units (some residual),
the audio encoder one stack of such units down to a 512-vector, and the decoder
seven blocks of transposed-conv units whose outputs are concatenated with the
matching encoder features (a U-Net), ending in a conv, a 1x1 conv and a sigmoid.
Parameter names follow the official release (``face_encoder_blocks.1.0.conv_block.0.weight``)
so its checkpoints (``ckpt["state_dict"]``, keys possibly prefixed ``module.`` by
DataParallel) load strictly.

``channel_divisor`` narrows every hidden layer by the same factor (tests build a
tiny model with the same keys); the loader reads it back from the checkpoint.
torch is imported only when a model is built or loaded.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from framebridge.protocol.errors import ModelError, ModelNotFound

__all__ = [
    "CHECKPOINT_ROLE",
    "CHECKPOINT_NAMES",
    "FACE_SIZE",
    "build_wav2lip",
    "checkpoint_file",
    "load_wav2lip",
    "face_input",
    "mouth_output",
]

CHECKPOINT_ROLE = "lipsync.wav2lip.checkpoint"
CHECKPOINT_NAMES = ("wav2lip_gan.pth", "wav2lip.pth")  # looked for, in this order, when the role names a folder
FACE_SIZE = 96

# (in, out, kernel, stride, padding, residual) per conv unit, at full width; each inner list is one block.
_FACE_ENCODER = [
    [(6, 16, 7, 1, 3, False)],
    [(16, 32, 3, 2, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True)],
    [(32, 64, 3, 2, 1, False)] + [(64, 64, 3, 1, 1, True)] * 3,
    [(64, 128, 3, 2, 1, False)] + [(128, 128, 3, 1, 1, True)] * 2,
    [(128, 256, 3, 2, 1, False)] + [(256, 256, 3, 1, 1, True)] * 2,
    [(256, 512, 3, 2, 1, False), (512, 512, 3, 1, 1, True)],
    [(512, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)],
]
_AUDIO_ENCODER = (
    [(1, 32, 3, 1, 1, False)] + [(32, 32, 3, 1, 1, True)] * 2
    + [(32, 64, 3, (3, 1), 1, False)] + [(64, 64, 3, 1, 1, True)] * 2
    + [(64, 128, 3, 3, 1, False)] + [(128, 128, 3, 1, 1, True)] * 2
    + [(128, 256, 3, (3, 2), 1, False), (256, 256, 3, 1, 1, True)]
    + [(256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)]
)
# Decoder blocks: a transposed unit (in, out, kernel, stride, padding, output_padding) then residual
# conv units of its width; block 0 is a single 1x1 conv unit.
_FACE_DECODER = [
    (None, 512, 0),
    ((1024, 512, 3, 1, 0, 0), 512, 1),
    ((1024, 512, 3, 2, 1, 1), 512, 2),
    ((768, 384, 3, 2, 1, 1), 384, 2),
    ((512, 256, 3, 2, 1, 1), 256, 2),
    ((320, 128, 3, 2, 1, 1), 128, 2),
    ((160, 64, 3, 2, 1, 1), 64, 2),
]
_FIXED_CHANNELS = {1, 3, 6}  # the mel plane, the BGR output, the 6-channel face: never narrowed


@functools.cache
def _classes() -> tuple[Any, Any]:
    """The torch module classes, defined on first use so importing this module never imports torch."""
    import torch
    from torch import nn

    class ConvUnit(nn.Module):
        """conv -> batch norm (-> + input) -> ReLU; the official ``Conv2d`` unit."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: Any, padding: int, residual: bool = False):
            super().__init__()
            self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout))
            self.act = nn.ReLU()
            self.residual = residual

        def forward(self, x: Any) -> Any:
            out = self.conv_block(x)
            return self.act(out + x if self.residual else out)

    class TransposedUnit(nn.Module):
        """transposed conv -> batch norm -> ReLU; the official ``Conv2dTranspose`` unit."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, output_padding: int):
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding), nn.BatchNorm2d(cout)
            )
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.conv_block(x))

    def width(channels: int, divisor: int) -> int:
        return channels if channels in _FIXED_CHANNELS else channels // divisor

    def conv(spec: tuple, divisor: int) -> Any:
        cin, cout, kernel, stride, padding, residual = spec
        return ConvUnit(width(cin, divisor), width(cout, divisor), kernel, stride, padding, residual)

    class Wav2Lip(nn.Module):
        """The generator; ``forward(mel (B, 1, 80, 16), faces (B, 6, 96, 96)) -> (B, 3, 96, 96)`` in 0..1."""

        def __init__(self, channel_divisor: int = 1):
            super().__init__()
            d = channel_divisor
            self.face_encoder_blocks = nn.ModuleList(nn.Sequential(*(conv(s, d) for s in block)) for block in _FACE_ENCODER)
            self.audio_encoder = nn.Sequential(*(conv(s, d) for s in _AUDIO_ENCODER))
            blocks = []
            for transposed, channels, residual_units in _FACE_DECODER:
                if transposed is None:
                    units = [conv((512, 512, 1, 1, 0, False), d)]
                else:
                    cin, cout, kernel, stride, padding, output_padding = transposed
                    units = [TransposedUnit(width(cin, d), width(cout, d), kernel, stride, padding, output_padding)]
                units += [conv((channels, channels, 3, 1, 1, True), d) for _ in range(residual_units)]
                blocks.append(nn.Sequential(*units))
            self.face_decoder_blocks = nn.ModuleList(blocks)
            self.output_block = nn.Sequential(
                conv((80, 32, 3, 1, 1, False), d), nn.Conv2d(width(32, d), 3, 1, 1, 0), nn.Sigmoid()
            )

        def forward(self, mel: Any, faces: Any) -> Any:
            features = []
            x = faces
            for block in self.face_encoder_blocks:
                x = block(x)
                features.append(x)
            x = self.audio_encoder(mel)
            for block in self.face_decoder_blocks:
                x = torch.cat((block(x), features.pop()), dim=1)
            return self.output_block(x)

    return Wav2Lip, torch


def build_wav2lip(channel_divisor: int = 1) -> Any:
    """A Wav2Lip generator with fresh weights; ``channel_divisor`` 1 is the official size."""
    if channel_divisor < 1 or any(c % channel_divisor for c in (16, 32, 64, 128, 256, 384, 512)):
        raise ValueError(f"channel_divisor must divide 16, got {channel_divisor}")
    model_class, _ = _classes()
    return model_class(channel_divisor)


def checkpoint_file(where: Path) -> Path:
    """The checkpoint a configured path names: the file itself, or the first of CHECKPOINT_NAMES in a folder."""
    if where.is_dir():
        for name in CHECKPOINT_NAMES:
            if (where / name).is_file():
                return where / name
        raise ModelNotFound(
            f"{CHECKPOINT_ROLE}: {where} holds neither {' nor '.join(CHECKPOINT_NAMES)}",
            fix=f"put the Wav2Lip checkpoint (wav2lip_gan.pth from the official release) in {where}",
            details={"role": CHECKPOINT_ROLE, "path": str(where)},
        )
    if not where.is_file():
        raise ModelNotFound(
            f"{CHECKPOINT_ROLE}: {where} does not exist",
            fix=f"put the Wav2Lip checkpoint (wav2lip_gan.pth) at {where}, or point {CHECKPOINT_ROLE} at it",
            details={"role": CHECKPOINT_ROLE, "path": str(where)},
        )
    return where


def load_wav2lip(path: Path) -> Any:
    """Load a Wav2Lip checkpoint (file, or folder holding one) strictly into an eval-mode fp32 CPU model.

    Reads tensors only (``weights_only``: no arbitrary pickle). Raises :class:`ModelNotFound`
    when the file is absent and :class:`ModelError` when its keys or shapes are not Wav2Lip's.
    """
    _, torch = _classes()
    file = checkpoint_file(Path(path))
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike for unreadable files
        raise ModelError(f"{file} is not a readable torch checkpoint: {error}", details={"path": str(file)}) from error
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{file} has no 'state_dict' (not a Wav2Lip training checkpoint)", details={"path": str(file)})
    state = {key.removeprefix("module."): value for key, value in state.items()}
    first = state.get("face_encoder_blocks.0.0.conv_block.0.weight")
    if first is None or first.ndim != 4 or first.shape[0] < 1 or 16 % first.shape[0]:
        raise ModelError(f"{file} is not a Wav2Lip generator: its first face-encoder conv is missing or odd", details={"path": str(file)})
    model = build_wav2lip(16 // int(first.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelError(f"{file} does not match the Wav2Lip layout: {error}", details={"path": str(file)}) from error
    return model.float().eval()


def face_input(crop_rgb: np.ndarray) -> np.ndarray:
    """(6, 96, 96) float32 network input from an RGB 0..1 face crop: masked-lower-half BGR then BGR, in 0..1."""
    face = cv2.resize(crop_rgb[..., ::-1].astype(np.float32), (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)  # as the official crops
    masked = face.copy()
    masked[FACE_SIZE // 2 :] = 0.0
    return np.concatenate([masked, face], axis=2).transpose(2, 0, 1).copy()


def mouth_output(prediction_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """The network's (3, 96, 96) BGR 0..1 output as an RGB (height, width, 3) float32 image."""
    face = prediction_bgr.transpose(1, 2, 0)[..., ::-1].astype(np.float32)
    return cv2.resize(np.ascontiguousarray(face), (width, height), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)
