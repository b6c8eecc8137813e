"""Pixel pairs within a radius and their affinities from a boundary map (IRN's inter-pixel relations).

A pair (p, p + o) is described by its offset o = (dy, dx). Only half of the offsets are listed
(dy > 0, or dy == 0 and dx > 0): the other half are the same pairs seen from the other end.
The affinity of a pair is 1 minus the strongest boundary on the straight path between them, so
two pixels separated by an edge are unrelated.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from wsss.data.palette import IGNORE_INDEX


@cache
def half_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """Offsets (dy, dx) with 0 < dy² + dx² < radius², one per unordered pair direction."""
    offsets = [(0, dx) for dx in range(1, radius)]
    offsets += [
        (dy, dx) for dy in range(1, radius) for dx in range(-radius + 1, radius) if dy * dy + dx * dx < radius * radius
    ]
    return tuple(offsets)


@cache
def path_points(dy: int, dx: int) -> tuple[tuple[int, int], ...]:
    """Integer points of the straight segment from (0, 0) to (dy, dx), both ends included."""
    steps = max(abs(dy), abs(dx))
    return tuple(
        dict.fromkeys(
            (int(np.floor(i * dy / steps + 0.5)), int(np.floor(i * dx / steps + 0.5))) for i in range(steps + 1)
        )
    )


@cache
def _path_index(radius: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices into the padded map of every path point of every pair, (O, P, H, W), and the
    (O, H, W) mask of pairs inside the image. Shorter paths repeat their last point up to P."""
    r = radius - 1
    padded_width = width + 2 * r
    offsets = half_offsets(radius)
    longest = max(len(path_points(dy, dx)) for dy, dx in offsets)
    ys = torch.arange(height)[:, None]
    xs = torch.arange(width)[None, :]
    index = torch.empty(len(offsets), longest, height, width, dtype=torch.int64)
    valid = torch.empty(len(offsets), height, width, dtype=torch.bool)
    for o, (dy, dx) in enumerate(offsets):
        points = path_points(dy, dx)
        for p in range(longest):
            py, px = points[min(p, len(points) - 1)]
            index[o, p] = (ys + py) * padded_width + (xs + r + px)
        valid[o] = (ys + dy < height) & (xs + dx >= 0) & (xs + dx < width)
    return index, valid


def pair_affinities(edge: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Affinities of every pair (p, p + o) for the :func:`half_offsets` o of ``radius``.

    ``edge``: (..., H, W) boundary probabilities. Returns ``(affinity, valid)``, both
    (..., O, H, W) indexed by the source pixel p; ``valid`` is False where p + o leaves the image
    (those affinities are 0). One gather and one max over the path points (cheap to
    differentiate: the gradient goes to the single strongest point of each path).
    """
    height, width = edge.shape[-2:]
    r = radius - 1
    index, valid = _path_index(radius, height, width)
    index, valid = index.to(edge.device), valid.to(edge.device)
    padded = F.pad(edge, (r, r, 0, r), value=1.0).flatten(-2)  # outside the image is all boundary
    strongest = padded[..., index.flatten()].unflatten(-1, index.shape).max(dim=-3).values
    inside = valid.expand(*edge.shape[:-2], -1, -1, -1)
    return (1 - strongest) * inside, inside


def pair_partners(values: torch.Tensor, radius: int, fill: float) -> torch.Tensor:
    """(..., O, H, W): for each pair (p, p + o), the value of ``values`` (..., H, W) at p + o
    (``fill`` where p + o leaves the image)."""
    height, width = values.shape[-2:]
    r = radius - 1
    index, _ = _path_index(radius, height, width)
    end = index[:, -1].to(values.device)  # every path ends at p + o
    padded = F.pad(values, (r, r, 0, r), value=fill).flatten(-2)
    return padded[..., end.flatten()].unflatten(-1, end.shape)


def affinity_labels(labels: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training targets for the pairs of :func:`pair_affinities` from (B, H, W) IR labels.

    Returns boolean (B, O, H, W) masks: same-class background pairs, same-class object pairs,
    and different-class pairs; pairs touching an unsure (255) pixel or leaving the image are in none.
    """
    target = pair_partners(labels, radius, IGNORE_INDEX)  # (B, O, H, W)
    source = labels.unsqueeze(1)
    known = (source != IGNORE_INDEX) & (target != IGNORE_INDEX)
    same = known & (target == source)
    return same & (source == 0), same & (source != 0), known & (target != source)
