"""IRN (Ahn et al., CVPR 2019): inter-pixel relations learnt from IR labels, at stride 4.

A frozen ResNet gives features at five depths; two light branches read them all, upsampled to
stride 4: the edge branch predicts class boundaries (which become random-walk affinities) and
the displacement branch predicts, per pixel, the offset to its instance's centre.

The edge branch brings each depth to stride 4 as IRN's ``net/resnet50_irn.py`` does: GroupNorm,
then bilinear upsampling by the fixed factor stride / 4, then ReLU, then the top-left corner of
the stride-4 size (:func:`upsample_to_stride4`). Where a side is not a multiple of 16, a fixed
factor overshoots and the crop drops the excess at the bottom and right, so the deeper maps sit
where the reference's do (an exact resize would stretch them: on a 500 x 375 image, layer3's map
would sit up to about 12 image pixels off at the right edge and 8 at the bottom).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from wsss.checkpoints import load_checked, read_checkpoint
from wsss.data.images import batches_by_image_size, read_rgb
from wsss.data.training_data import normalize_imagenet
from wsss.distributed import mean_over_processes
from wsss.models.backbone import ResNetBackbone
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.affinity import (
    PairSources,
    PathRule,
    affinity_labels,
    half_offsets,
    pair_affinities,
    pair_partners,
)
from wsss.refine.cam_to_labels import CamLabelJob
from wsss.refine.random_walk import write_walked_labels

EDGE_CHUNK = 256  # images whose edge maps are held at once before their walks run


def _reader(in_channels: int, out_channels: int, relu: bool = True) -> torch.nn.Sequential:
    """1x1 conv + GroupNorm (+ ReLU): one branch's view of one backbone stage."""
    layers = [torch.nn.Conv2d(in_channels, out_channels, 1, bias=False), torch.nn.GroupNorm(4, out_channels)]
    return torch.nn.Sequential(*layers, *([torch.nn.ReLU(inplace=True)] if relu else []))


def stage_strides(backbone: ResNetBackbone) -> tuple[int, ...]:
    """Strides of :meth:`ResNetBackbone.stage_outputs`: 4, 4, 8, then 16 and the output stride
    (layer3 keeps stride 8 at output stride 8)."""
    return 4, 4, 8, min(16, backbone.output_stride), backbone.output_stride


def upsample_to_stride4(features: torch.Tensor, factor: int, size: tuple[int, int]) -> torch.Tensor:
    """IRN's edge-branch upsampling: bilinear by the fixed ``factor`` (half-pixel centres), then
    ReLU, then the top-left ``size`` corner."""
    if factor > 1:
        features = F.interpolate(features, scale_factor=factor, mode="bilinear", align_corners=False)
    return F.relu(features)[..., : size[0], : size[1]]


class EdgeDisplacementNet(torch.nn.Module):
    """Frozen backbone + edge branch (1 channel, logits) + displacement branch (2 channels, stride-4 pixels)."""

    def __init__(self, backbone: ResNetBackbone, edge_width: int = 32, displacement_width: int = 64):
        super().__init__()
        self.backbone = backbone
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)
        channels = backbone.stage_channels()
        self.edge_readers = torch.nn.ModuleList(_reader(c, edge_width, relu=False) for c in channels)
        self.edge_factors = [stride // 4 for stride in stage_strides(backbone)]
        self.edge_head = torch.nn.Conv2d(edge_width * len(channels), 1, 1)
        self.displacement_readers = torch.nn.ModuleList(_reader(c, displacement_width) for c in channels)
        self.displacement_head = torch.nn.Sequential(
            _reader(displacement_width * len(channels), 2 * displacement_width),
            torch.nn.Conv2d(2 * displacement_width, 2, 1),
        )

    def train(self, mode: bool = True) -> EdgeDisplacementNet:
        super().train(mode)
        self.backbone.eval()  # frozen, BatchNorm statistics included
        return self

    def branch_parameters(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """(edge branch, displacement branch) parameters, for their separate learning rates."""
        edge = [*self.edge_readers.parameters(), *self.edge_head.parameters()]
        return edge, [*self.displacement_readers.parameters(), *self.displacement_head.parameters()]

    def forward(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, H/4, W/4) edge logits and (N, 2, H/4, W/4) displacements for images in [0, 1]."""
        with torch.no_grad():
            features = self.backbone.stage_outputs(normalize_imagenet(images01))
        size = features[0].shape[-2:]
        edge = [
            upsample_to_stride4(r(f), factor, size)
            for r, f, factor in zip(self.edge_readers, features, self.edge_factors)
        ]
        displacement = [
            F.interpolate(r(f), size=size, mode="bilinear", align_corners=False)
            for r, f in zip(self.displacement_readers, features)
        ]
        return self.edge_head(torch.cat(edge, dim=1)), self.displacement_head(torch.cat(displacement, dim=1))


def irn_losses(
    edge_logits: torch.Tensor,
    displacement: torch.Tensor,
    labels: torch.Tensor,
    radius: int,
    path: PathRule = "reference",
    sources: PairSources = "all",
) -> dict[str, torch.Tensor]:
    """IRN's losses on (B, H, W) stride-4 IR labels (0 background, 1..C classes, 255 unsure).

    Edge branch: pairs of one class should have affinity 1 (background and object pairs
    averaged separately), pairs of different classes affinity 0. Displacement branch: two object
    pixels of one class point at the same centre, so their displacements differ by their
    offset; background displacements agree with each other. ``path`` picks the pixels whose
    boundary a pair's affinity looks at, ``sources`` the pixels pairs start from
    (:mod:`wsss.refine.affinity`).
    """
    same_bg, same_fg, different = affinity_labels(labels, radius, sources)
    affinity, _ = pair_affinities(torch.sigmoid(edge_logits[:, 0].float()), radius, path)
    losses = {
        "bg_affinity": mean_over_processes(-torch.log(affinity + 1e-5), same_bg),
        "fg_affinity": mean_over_processes(-torch.log(affinity + 1e-5), same_fg),
        "different_affinity": mean_over_processes(-torch.log(1 + 1e-5 - affinity), different),
    }
    offsets = displacement.new_tensor(half_offsets(radius)).float()  # (O, 2) as (dy, dx)
    pair_difference = displacement.float().unsqueeze(2) - pair_partners(
        displacement.float(), radius, 0.0
    )  # (B, 2, O, H, W): D(p) - D(p + o)
    fg_error = (
        (pair_difference - offsets.T.reshape(1, 2, -1, 1, 1)).abs().sum(dim=1)
    )  # same object: p + D(p) = q + D(q)
    losses["fg_displacement"] = mean_over_processes(fg_error, same_fg)
    losses["bg_displacement"] = mean_over_processes(pair_difference.abs().sum(dim=1), same_bg)
    losses["total"] = (
        (losses["bg_affinity"] + losses["fg_affinity"]) / 4
        + losses["different_affinity"] / 2
        + (losses["fg_displacement"] + losses["bg_displacement"]) / 2
    )
    return losses


@torch.no_grad()
def edge_maps(model: EdgeDisplacementNet, images01: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) boundary probabilities at stride 4 of (N, 3, H, W) images, each averaged with its flip."""
    edge_logits, _ = model(torch.cat([images01, images01.flip(-1)]))
    n = images01.shape[0]
    logits = (edge_logits[:n, 0] + edge_logits[n:, 0].flip(-1)) / 2
    if logits.shape[-2:] != size:
        logits = F.interpolate(logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return torch.sigmoid(logits.float())


def load_irn(checkpoint: str, device: torch.device) -> EdgeDisplacementNet:
    """The trained IRN of ``checkpoint`` on ``device``, in eval mode."""
    state = read_checkpoint(checkpoint)
    model = EdgeDisplacementNet(ResNetBackbone(state["meta"]["backbone"], state["meta"]["output_stride"]))
    load_checked(model, state["model"], checkpoint)
    return model.to(device).eval()


def write_irn_pseudo_labels(
    model: EdgeDisplacementNet,
    jobs: Sequence[CamLabelJob],
    device: torch.device,
    *,
    batch_size: int,
    threads: int,
    progress: Progress,
    **walk: object,
) -> list[np.ndarray]:
    """Each job's pseudo-labels by a random walk along IRN's boundaries (``walk``: the keywords of
    :func:`wsss.refine.random_walk.write_walked_labels`); returns the label histograms.

    Edge maps are inferred in batches of same-size images, :data:`EDGE_CHUNK` images at a time;
    on CPU the walks run in worker processes, on CUDA in this one, on the GPU.
    """
    work = functools.partial(write_walked_labels, **walk)
    histograms = []
    for first in range(0, len(jobs), EDGE_CHUNK):
        chunk = jobs[first : first + EDGE_CHUNK]
        edges = {}
        for same_size in batches_by_image_size(chunk, lambda job: job.image_path, batch_size):
            images = (
                torch.stack([torch.from_numpy(read_rgb(job.image_path)).permute(2, 0, 1) for job in same_size])
                .float()
                .div(255)
            )
            size = (-(-images.shape[2] // 4), -(-images.shape[3] // 4))
            for job, edge in zip(same_size, edge_maps(model, images.to(device), size)):
                edges[job.image_id] = edge if device.type == "cuda" else edge.numpy()
        items = [(job, edges[job.image_id]) for job in chunk]
        histograms += map_in_processes(work, items, threads if device.type == "cpu" else 1, progress=progress)
    return histograms
