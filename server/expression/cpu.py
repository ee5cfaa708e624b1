"""The CPU default expression backend: the driver's landmark motion, transferred and applied by a dense warp.

No downloaded weights: landmarks come from the swappable provider (dlib's 68-point
model by default, non-commercial), the motion from :mod:`.transfer`, the pixels from
a thin-plate warp with a soft matte (``framebridge.server.faces``). A warp moves
what is there: it cannot show teeth or the inside of a mouth the target keeps closed.
"""

from __future__ import annotations

from typing import Any

from ..faces import landmark_provider, warp_face
from ..faces.landmarks import describe_provider
from .backend import AnimateRequest, AnimateResult, ExpressionBackend
from .transfer import transfer

__all__ = ["CpuExpressionBackend"]

VERSION = "cpu-warp-1"


class CpuExpressionBackend(ExpressionBackend):
    name = "cpu"

    def describe(self) -> dict[str, Any]:
        landmarks = describe_provider()
        return {"available": landmarks["available"], "version": VERSION, "landmarks": landmarks,
                "note": "a landmark-driven warp: it moves what is there, it cannot draw teeth or an open mouth's inside"}

    def check(self) -> None:
        landmark_provider()

    def version(self) -> str:
        return f"{VERSION}/{landmark_provider().version()}"

    def animate(self, request: AnimateRequest) -> AnimateResult:
        moved = transfer(request.target_face.landmarks, request.driving_face.landmarks,
                         request.reference_face.landmarks, request.motion)
        face = warp_face(request.target_face.landmarks, moved, request.target.shape[:2], feather=request.feather)
        return AnimateResult(image=face.warp.apply(request.target), matte=face.matte, stmap=face.warp.stmap(),
                             landmarks=moved)
