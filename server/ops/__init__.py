"""The ops a server offers, by name."""

from __future__ import annotations

from .base import FrameFailure, InputFrame, JobContext, Op, OutputFrame
from .echo import EchoOp
from .expression import ExpressionOp
from .extract import ExtractOp
from .lipsync import LipsyncOp
from .propagate import PropagateOp
from .restyle import RestyleOp

__all__ = ["FrameFailure", "InputFrame", "JobContext", "Op", "OutputFrame", "default_ops"]


def default_ops() -> dict[str, Op]:
    """Every op this server build offers, keyed by name."""
    ops: list[Op] = [EchoOp(), ExtractOp(), RestyleOp(), PropagateOp(), ExpressionOp(), LipsyncOp()]
    return {op.name: op for op in ops}
