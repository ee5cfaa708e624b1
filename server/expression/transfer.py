"""Landmark motion transfer: how a driving face's change moves a target face.

Relative (the default), for driver landmarks D, the neutral reference frame's D0
and the target's T, all (68, 2):

- ``S`` is the Procrustes fit of D onto D0 over the stable points (nose bridge, eye
  corners): it removes the driver's head motion, so ``S(D) - D0`` is its expression
  change in the reference's frame;
- ``A`` fits D0 onto T the same way: the change is carried into the target's frame by
  A's rotation and scale (a smaller target face moves less), per point weighted by its
  region's multiplier (0 for regions not moving);
- ``pose`` is the driver's head motion since the reference, ``S⁻¹``, expressed in the
  target's frame (``A ∘ S⁻¹ ∘ A⁻¹``: a driver turning 10 degrees turns the target 10
  degrees, moving a tenth of its face width moves the target a tenth of its own),
  taken to the power of the pose multiplier about the target face's centre.

Absolute: the target takes the driver's face shape as it is, fitted onto the target,
instead of its change since the reference; head motion stays relative, since a face
cannot jump to where another person stood in another frame.
"""

from __future__ import annotations

import numpy as np

from ..faces.align import Similarity, fit_similarity
from ..faces.regions import STABLE, region_of_points
from .backend import Motion

__all__ = ["transfer", "head_motion"]


def head_motion(driving: np.ndarray, reference: np.ndarray, target: np.ndarray) -> Similarity:
    """The driver's rigid head motion since the reference, in the target's frame."""
    stable = list(STABLE)
    driving_to_reference = fit_similarity(driving[stable], reference[stable])
    reference_to_target = fit_similarity(reference[stable], target[stable])
    return driving_to_reference.inverse().conjugate(reference_to_target)


def transfer(target: np.ndarray, driving: np.ndarray, reference: np.ndarray, motion: Motion) -> np.ndarray:
    """(68, 2) float32: where the target's landmarks go for this driving frame."""
    target = np.asarray(target, np.float64)
    stable = list(STABLE)
    weights = region_of_points(motion.regions, dict(motion.multipliers))[:, None]
    if motion.relative:
        driving_to_reference = fit_similarity(driving[stable], reference[stable])
        change = driving_to_reference.apply(driving) - reference
        change = fit_similarity(reference[stable], target[stable]).apply_vectors(change)
    else:
        change = fit_similarity(driving[stable], target[stable]).apply(driving) - target
    moved = target + change * weights
    if "pose" in motion.regions:
        pose = head_motion(driving, reference, target).power(float(motion.multipliers.get("pose", 1.0)),
                                                             about=target[stable].mean(0))
        moved = pose.apply(moved)
    return np.asarray(moved, np.float32)
