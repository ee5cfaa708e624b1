"""The one small interface every op implements, and the frames it sees.

An op validates a submit before any frame moves (:meth:`Op.prepare`), then turns
an iterator of input frames into an iterator of results (:meth:`Op.run`). It
pulls frames one at a time (or a window at a time) and yields each result as
soon as it exists; the job manager streams it, checks cancellation between
frames, and names every frame that fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np

from framebridge.protocol.buffers import ALLOWED_DTYPES
from framebridge.protocol import passes
from framebridge.protocol.errors import FrameBridgeError, InvalidParams, MissingInput, NonFiniteValues, ShapeMismatch

from ..chunks import ChunkRule

__all__ = ["InputFrame", "OutputFrame", "FrameFailure", "JobContext", "Op", "NO_JOB_BUFFERS", "check_params",
           "check_job_buffers", "buffer_spec", "frame_beauty"]

NO_JOB_BUFFERS: Mapping[str, np.ndarray] = MappingProxyType({})


@dataclass(frozen=True)
class InputFrame:
    """One input frame: its number and its named buffers (read-only arrays).

    ``failure`` is set when the host could not produce the frame; the job
    manager names it failed and never hands it to an op.
    """

    number: int
    buffers: Mapping[str, np.ndarray]
    failure: FrameBridgeError | None = None


@dataclass(frozen=True)
class OutputFrame:
    """One result frame; ``meta`` travels in the result header (e.g. cache hits)."""

    number: int
    buffers: Mapping[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameFailure:
    """A frame the op could not produce, and why."""

    number: int
    error: FrameBridgeError


@dataclass
class JobContext:
    """What an op may know about the job running it."""

    job_id: str
    frames: list[int]
    shot: dict[str, Any]
    cancelled: Callable[[], bool]
    report_stage: Callable[[str], None] = lambda stage: None
    job_buffers: Mapping[str, np.ndarray] = field(default_factory=lambda: NO_JOB_BUFFERS)


class Op(ABC):
    """An operation the server offers; ``name`` is what clients submit."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The op's ``capabilities`` entry, in the schema of :mod:`framebridge.protocol.op_schema`."""

    @abstractmethod
    def prepare(self, params: dict[str, Any], shot: dict[str, Any], frames: list[int], backend: str | None,
                job_buffers: Mapping[str, np.ndarray] = NO_JOB_BUFFERS) -> Any:
        """Validate a submit and return the plan :meth:`run` gets; raise typed errors.

        ``job_buffers`` are the buffers the submit carried for the whole job (a
        source portrait, an audio track); every op checks them, if only to refuse them.
        """

    @abstractmethod
    def run(self, plan: Any, frames: Iterator[InputFrame], context: JobContext) -> Iterator[OutputFrame | FrameFailure]:
        """Consume input frames in submit order and yield a result or failure for each."""

    def backend_name(self, plan: Any) -> str:
        """The backend a prepared plan runs on (reported in ``accepted``)."""
        return "builtin"

    def chunking(self, plan: Any) -> ChunkRule:
        """How a prepared job's frames may be split across workers (see :mod:`..chunks`); by default they are independent."""
        return ChunkRule()


def check_params(params: dict[str, Any], allowed: Mapping[str, type | tuple[type, ...]]) -> None:
    """Reject unknown param names and values of the wrong type, naming what is allowed."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidParams(f"unknown params {unknown}", details={"allowed": sorted(allowed)})
    for name, value in params.items():
        kinds = allowed[name] if isinstance(allowed[name], tuple) else (allowed[name],)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(kind.__name__ for kind in kinds)
            raise InvalidParams(f"param {name!r} must be {expected}, not {type(value).__name__}", details={"param": name})


def check_job_buffers(job_buffers: Mapping[str, np.ndarray], allowed: Mapping[str, str]) -> None:
    """Reject job-level buffers an op does not take; ``allowed`` maps each name it takes to what it is."""
    unknown = sorted(set(job_buffers) - set(allowed))
    if unknown:
        takes = ", ".join(f"{name} ({what})" for name, what in sorted(allowed.items())) or "none"
        raise InvalidParams(f"job-level buffers {unknown} are not taken by this op; it takes: {takes}",
                            details={"buffers": unknown, "allowed": sorted(allowed)})


def buffer_spec(name: str, channels: list[int] | None, *, required: bool = False, dtypes: tuple[str, ...] = tuple(ALLOWED_DTYPES),
                shape: str | None = None, doc: str = "") -> dict[str, Any]:
    """One buffer an op takes or returns, as ``describe()`` lists it (see :mod:`framebridge.protocol.op_schema`)."""
    spec: dict[str, Any] = {"name": name, "dtypes": list(dtypes), "channels": channels, "required": required}
    if shape:
        spec["shape"] = shape
    if doc:
        spec["doc"] = doc
    return spec


def frame_beauty(frame: InputFrame, what: str = "the rendered image") -> np.ndarray:
    """A frame's ``beauty`` as float32 (H, W, 3|4), checked: present, image-shaped, finite; typed errors name the buffer."""
    beauty = frame.buffers.get(passes.BEAUTY)
    if beauty is None:
        raise MissingInput(f"frame {frame.number} has no beauty buffer (it has {sorted(frame.buffers) or 'none'})",
                           fix=f"send {what} as the 'beauty' buffer", details={"buffer": passes.BEAUTY})
    if beauty.ndim != 3 or beauty.shape[2] not in (3, 4):
        raise ShapeMismatch(f"beauty must be (H, W, 3) or (H, W, 4), got {list(beauty.shape)}")
    beauty = np.asarray(beauty, dtype=np.float32) if beauty.dtype.kind == "f" else beauty.astype(np.float32) / np.iinfo(beauty.dtype).max
    if not np.isfinite(beauty).all():
        raise NonFiniteValues(f"frame {frame.number}'s beauty has NaN or infinite pixels",
                              fix="clamp or fix the render before sending", details={"buffer": passes.BEAUTY})
    return beauty
