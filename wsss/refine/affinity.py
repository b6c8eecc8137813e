"""Pixel pairs within a radius and their affinities from a boundary map (IRN's inter-pixel relations).

A pair (p, p + o) is described by its offset o = (dy, dx). Only half of the offsets are listed
(dy > 0, or dy == 0 and dx > 0): the other half are the same pairs seen from the other end.
The affinity of a pair is 1 minus the strongest boundary on the path between them, so two
pixels separated by an edge are unrelated. Which pixels make up that path is the ``path`` rule:

- ``reference`` (IRN's PathIndex): every pixel of the segment's bounding box whose centre lies
  less than one pixel from the line through both ends (242 points over the 34 offsets of
  radius 5, 2,134 over the 152 of radius 10). A thin boundary the line passes beside still cuts.
- ``one-per-step``: one rounded point per step along the longer axis (130 and 1,050 points),
  half the gather, but a diagonal pair can slip between two boundary pixels.

Which pairs train IRN is the ``pair_sources`` rule (:func:`source_window`): ``reference`` (IRN's
PathIndex) starts pairs only from pixels at least radius - 1 from the left, right and bottom
sides of the stride-4 crop, so every partner lies inside it without a test; ``all`` takes every
pair whose two ends lie in the crop. The random walk uses every in-image pair under both.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import torch
import torch.nn.functional as F

from wsss.palette import IGNORE_INDEX

PathRule = Literal["reference", "one-per-step"]
PATH_RULES: tuple[str, ...] = ("reference", "one-per-step")
PairSources = Literal["reference", "all"]
PAIR_SOURCES: tuple[str, ...] = ("reference", "all")


@cache
def half_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """Offsets (dy, dx) with 0 < dy² + dx² < radius², one per unordered pair direction."""
    offsets = [(0, dx) for dx in range(1, radius)]
    offsets += [
        (dy, dx) for dy in range(1, radius) for dx in range(-radius + 1, radius) if dy * dy + dx * dx < radius * radius
    ]
    return tuple(offsets)


@cache
def path_points(dy: int, dx: int, rule: PathRule = "reference") -> tuple[tuple[int, int], ...]:
    """Integer points on the path from (0, 0) to (dy, dx), both ends included, ordered from the source."""
    if rule == "reference":
        # Squared distance of (y, x) to the line through the origin and (dy, dx), times dy² + dx²,
        # compared in integers: (dy*x - dx*y)² / (dy² + dx²) < 1.
        length2 = dy * dy + dx * dx
        box = [(y, x) for y in range(min(0, dy), max(0, dy) + 1) for x in range(min(0, dx), max(0, dx) + 1)]
        near = [(y, x) for y, x in box if (dy * x - dx * y) ** 2 < length2]
        return tuple(sorted(near, key=lambda point: (point[0] * dy + point[1] * dx, point)))
    if rule == "one-per-step":
        steps = max(abs(dy), abs(dx))
        # Round half up in integers: floor(i * d / steps + 1/2).
        return tuple(
            dict.fromkeys(
                ((2 * i * dy + steps) // (2 * steps), (2 * i * dx + steps) // (2 * steps)) for i in range(steps + 1)
            )
        )
    raise ValueError(f"unknown path rule {rule!r} ({' or '.join(PATH_RULES)})")


@cache
def _path_groups(radius: int, rule: PathRule) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """The half offsets grouped by path length: per group, their positions in :func:`half_offsets`
    (n,) and their path points (n, L, 2). Gathering a group at a time needs no padding of short paths."""
    by_length: dict[int, list[int]] = {}
    offsets = half_offsets(radius)
    for position, (dy, dx) in enumerate(offsets):
        by_length.setdefault(len(path_points(dy, dx, rule)), []).append(position)
    return tuple(
        (torch.tensor(positions), torch.tensor([path_points(*offsets[p], rule) for p in positions]))
        for _, positions in sorted(by_length.items())
    )


def _padded_flat(values: torch.Tensor, radius: int, fill: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``values`` (..., H, W) padded by radius - 1 left, right and below (pairs never go up) and flattened,
    the flat index of every pixel in it (H * W,), and the padded row length."""
    height, width = values.shape[-2:]
    r = radius - 1
    padded_width = width + 2 * r
    ys = torch.arange(height, device=values.device)[:, None]
    xs = torch.arange(width, device=values.device)[None, :]
    padded = F.pad(values, (r, r, 0, r), value=fill).flatten(-2)
    return padded, (ys * padded_width + xs + r).flatten(), padded_width


def _pair_valid(radius: int, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(O, H, W): whether the partner p + o of pixel p lies inside an (H, W) image."""
    offsets = torch.tensor(half_offsets(radius), device=device)
    ys = torch.arange(height, device=device)[:, None] + offsets[:, 0, None, None]
    xs = torch.arange(width, device=device)[None, :] + offsets[:, 1, None, None]
    return (ys < height) & (xs >= 0) & (xs < width)


def pair_affinities(edge: torch.Tensor, radius: int, path: PathRule = "reference") -> tuple[torch.Tensor, torch.Tensor]:
    """Affinities of every pair (p, p + o) for the :func:`half_offsets` o of ``radius``.

    ``edge``: (..., H, W) boundary probabilities. Returns ``(affinity, valid)``, both
    (..., O, H, W) indexed by the source pixel p; ``valid`` is False where p + o leaves the image
    (those affinities are 0). Outside the image counts as boundary. One gather and one max per
    group of equally long paths: only one group's points are held at once, and the gradient goes
    to the single strongest point of each path.
    """
    height, width = edge.shape[-2:]
    padded, base, padded_width = _padded_flat(edge, radius, 1.0)
    strongest, order = [], []
    for positions, points in _path_groups(radius, path):
        shift = (points[..., 0] * padded_width + points[..., 1]).to(edge.device)  # (n, L)
        strongest.append(padded[..., shift[..., None] + base].max(dim=-2).values)  # (..., n, H * W)
        order.append(positions)
    restore = torch.argsort(torch.cat(order)).to(edge.device)
    strongest = torch.cat(strongest, dim=-2).index_select(-2, restore).unflatten(-1, (height, width))
    inside = _pair_valid(radius, height, width, edge.device).expand(*edge.shape[:-2], -1, -1, -1)
    return (1 - strongest) * inside, inside


def pair_partners(values: torch.Tensor, radius: int, fill: float) -> torch.Tensor:
    """(..., O, H, W): for each pair (p, p + o), the value of ``values`` (..., H, W) at p + o
    (``fill`` where p + o leaves the image)."""
    height, width = values.shape[-2:]
    padded, base, padded_width = _padded_flat(values, radius, fill)
    offsets = torch.tensor(half_offsets(radius), device=values.device)
    end = (offsets[:, 0] * padded_width + offsets[:, 1])[:, None] + base  # (O, H * W)
    return padded[..., end].unflatten(-1, (height, width))


def source_window(
    radius: int, height: int, width: int, rule: PairSources = "reference", device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(H, W): the pixels training pairs start from under ``rule``.

    ``reference``: rows 0 .. H - radius and columns radius - 1 .. W - radius, IRN's PathIndex
    (``src_indices``, with radius_floor = radius - 1); pairs never go up, so the top row is
    kept. ``all``: every pixel (partners outside the image are dropped by the labels instead).
    """
    if rule not in PAIR_SOURCES:
        raise ValueError(f"unknown pair sources {rule!r} ({' or '.join(PAIR_SOURCES)})")
    window = torch.ones(height, width, dtype=torch.bool, device=device)
    if rule == "reference":
        inset = radius - 1
        window[height - inset :] = False
        window[:, :inset] = False
        window[:, width - inset :] = False
    return window


def affinity_labels(
    labels: torch.Tensor, radius: int, sources: PairSources = "all"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training targets for the pairs of :func:`pair_affinities` from (B, H, W) IR labels.

    Returns boolean (B, O, H, W) masks: same-class background pairs, same-class object pairs,
    and different-class pairs; pairs touching an unsure (255) pixel, leaving the image or
    starting outside the :func:`source_window` of ``sources`` are in none.
    """
    target = pair_partners(labels, radius, IGNORE_INDEX)  # (B, O, H, W)
    source = labels.unsqueeze(1)
    window = source_window(radius, *labels.shape[-2:], sources, labels.device)
    known = (source != IGNORE_INDEX) & (target != IGNORE_INDEX) & window
    same = known & (target == source)
    return same & (source == 0), same & (source != 0), known & (target != source)
