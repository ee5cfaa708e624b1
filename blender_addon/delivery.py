"""Put a result sequence into the scene: a VSE strip, a compositor Image node, the camera background or the image editor.

Each placement replaces what an earlier run of the same name placed, so
re-running a shot updates the scene instead of piling up strips and nodes.
Blender 5.0's compositor is a node group (``Scene.compositing_node_group``);
earlier versions use ``Scene.node_tree`` after ``use_nodes``. Blender 4.4+ calls
the sequencer's strips ``strips``, earlier versions ``sequences``.
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from .placement import SequencePlacement

__all__ = ["load_sequence", "place", "preview_image"]

NODE_NAME = "FrameBridge Result"


def load_sequence(placement: SequencePlacement) -> bpy.types.Image:
    """The result sequence as one image datablock (source ``SEQUENCE``), reloaded if it exists."""
    image = bpy.data.images.get(placement.name)
    if image is None or bpy.path.abspath(image.filepath) != placement.first_path:
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.load(placement.first_path, check_existing=False)
        image.name = placement.name
    image.source = "SEQUENCE"
    image.reload()
    return image


def _set_image_user(user: Any, placement: SequencePlacement) -> None:
    user.frame_start = placement.frame_start
    user.frame_duration = placement.frame_duration
    user.frame_offset = placement.frame_offset
    user.use_auto_refresh = True


def place(scene: bpy.types.Scene, placement: SequencePlacement) -> Any:
    """Place the sequence as ``placement.kind`` says; returns the strip, node, background or image."""
    image = load_sequence(placement)
    if placement.kind == "SEQUENCER":
        return _place_strip(scene, placement)
    if placement.kind == "COMPOSITOR":
        return _place_node(scene, placement, image)
    if placement.kind == "CAMERA_BACKGROUND":
        return _place_background(scene, placement, image)
    if placement.kind == "IMAGE_EDITOR":
        _show_in_image_editors(image)
    return image


def _place_strip(scene: bpy.types.Scene, placement: SequencePlacement) -> Any:
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    existing = strips.get(placement.name)
    channel = existing.channel if existing else 1 + max((strip.channel for strip in strips), default=0)
    if existing:
        strips.remove(existing)
    strip = strips.new_image(name=placement.name, filepath=placement.first_path, channel=channel,
                             frame_start=placement.frame_start)
    for filename in placement.files[1:]:
        strip.elements.append(filename)
    return strip


def _compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    if hasattr(scene, "compositing_node_group"):
        if scene.compositing_node_group is None:
            scene.compositing_node_group = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
        return scene.compositing_node_group
    scene.use_nodes = True
    return scene.node_tree


def _place_node(scene: bpy.types.Scene, placement: SequencePlacement, image: bpy.types.Image) -> Any:
    tree = _compositor_tree(scene)
    node = tree.nodes.get(NODE_NAME) or tree.nodes.new("CompositorNodeImage")
    node.name = node.label = NODE_NAME
    node.image = image
    node.frame_start = placement.frame_start
    node.frame_duration = placement.frame_duration
    node.frame_offset = placement.frame_offset
    node.use_auto_refresh = True
    return node


def _place_background(scene: bpy.types.Scene, placement: SequencePlacement, image: bpy.types.Image) -> Any:
    camera = scene.camera.data
    camera.show_background_images = True
    background = next((bg for bg in camera.background_images if bg.image and bg.image.name == placement.name), None)
    background = background or camera.background_images.new()
    background.source = "IMAGE"
    background.image = image
    _set_image_user(background.image_user, placement)
    return background


def _show_in_image_editors(image: bpy.types.Image) -> None:
    """Every open image editor shows the image (none exist in background mode)."""
    window_manager = bpy.context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image


def preview_image(name: str, pixels: np.ndarray) -> bpy.types.Image:
    """A float image datablock holding an (H, W), (H, W, 3) or (H, W, 4) array (rows top to bottom).

    uint8 and uint16 arrays (condition images) are scaled to 0..1.
    """
    array = np.asarray(pixels)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(array.dtype, 1.0)
    array = array.astype(np.float32) / scale
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    height, width, channels = array.shape
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., : min(channels, 4)] = array[..., :4]
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (width, height):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(name, width, height, alpha=True, float_buffer=True)
    # Blender stores pixels bottom row first.
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
    image.update()
    return image
