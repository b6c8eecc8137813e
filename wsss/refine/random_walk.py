"""Random-walk propagation of CAMs along IRN's boundary map, done sparsely.

The walk's transition matrix T couples only pixels within ``radius`` of each other, so each of
the 2^exp_times steps is a sparse product costing O(N * pairs per pixel). The reference builds
T densely as an (N, N) matrix (N = pixels at stride 4) and squares it exp_times times, which
costs O(N^3) per squaring; :func:`dense_random_walk` keeps that formulation for tests and
benchmarks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F

from wsss.data.cam_io import cam_path, label_values, load_cam
from wsss.errors import DatasetError
from wsss.refine.affinity import PathRule, half_offsets, pair_affinities
from wsss.refine.cam_to_labels import CamLabelJob, write_job_labels


def _affinity_pairs(
    edge: torch.Tensor, radius: int, beta: float, path: PathRule
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, cols, values) of the symmetric affinity matrix A^beta, self-pairs (value 1) included."""
    height, width = edge.shape
    affinity, valid = pair_affinities(edge, radius, path)
    index = torch.arange(height * width, device=edge.device).view(height, width)
    offsets = torch.tensor(half_offsets(radius), device=edge.device)
    source = index.expand(len(offsets), -1, -1)[valid]
    step = (offsets[:, 0] * width + offsets[:, 1]).view(-1, 1, 1).expand(-1, height, width)[valid]
    target = source + step
    value = affinity[valid].clamp_min(0) ** beta
    diagonal = torch.arange(height * width, device=edge.device)
    rows = torch.cat([source, target, diagonal])
    cols = torch.cat([target, source, diagonal])
    values = torch.cat([value, value, torch.ones_like(diagonal, dtype=value.dtype)])
    return rows, cols, values


def transition_matrix(
    edge: torch.Tensor, radius: int, beta: float, path: PathRule = "reference"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, cols, values) of the sparse matrix M with M[j, i] = A[i, j]^beta / sum_i A[i, j]^beta.

    That is the transpose of the reference's column-normalised transition matrix T, so that one
    walk step on row vectors, x @ T, is M @ x as a column product.
    """
    rows, cols, values = _affinity_pairs(edge.float(), radius, beta, path)
    column_sum = torch.zeros(edge.numel(), dtype=values.dtype, device=values.device).index_add_(0, cols, values)
    return cols, rows, values / column_sum[cols]


def random_walk(
    scores: torch.Tensor,
    edge: torch.Tensor,
    radius: int = 5,
    beta: float = 10,
    exp_times: int = 8,
    path: PathRule = "reference",
) -> torch.Tensor:
    """Propagate (K, H, W) ``scores`` for 2^exp_times steps on the (H, W) boundary map ``edge``.

    The scores are first damped on boundaries (times 1 - edge), as in IRN. ``path`` picks the
    pixels between two whose boundary cuts their affinity (:mod:`wsss.refine.affinity`). On CPU
    the products run in scipy's CSR kernel (about 13x faster than torch's sparse CPU kernels
    here, see docs/benchmarks.md); on CUDA in torch's.
    """
    num_maps, height, width = scores.shape
    n = height * width
    rows, cols, values = transition_matrix(edge, radius, beta, path)
    state = (scores.float() * (1 - edge.float())).reshape(num_maps, n).T.contiguous()
    if edge.is_cuda:
        matrix = (
            torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False)
            .coalesce()
            .to_sparse_csr()
        )
    else:
        matrix = scipy.sparse.csr_matrix((values.numpy(), (rows.numpy(), cols.numpy())), shape=(n, n))
        state = state.numpy()
    for _ in range(2**exp_times):
        state = matrix @ state
    return torch.as_tensor(state).T.reshape(num_maps, height, width)


def dense_random_walk(
    scores: torch.Tensor,
    edge: torch.Tensor,
    radius: int = 5,
    beta: float = 10,
    exp_times: int = 8,
    path: PathRule = "reference",
) -> torch.Tensor:
    """The reference formulation: dense A^beta, column-normalised, squared exp_times times."""
    num_maps, height, width = scores.shape
    n = height * width
    rows, cols, values = _affinity_pairs(edge.float(), radius, beta, path)
    dense = torch.zeros(n, n, dtype=torch.float64, device=edge.device)
    dense[rows, cols] = values.double()
    transition = dense / dense.sum(dim=0, keepdim=True)
    for _ in range(exp_times):
        transition = transition @ transition
    state = (scores.double() * (1 - edge.double())).reshape(num_maps, n)
    return (state @ transition).float().reshape(num_maps, height, width)


def propagated_labels(
    cam_stride4: np.ndarray,
    keys: np.ndarray,
    edge: torch.Tensor,
    size: tuple[int, int],
    *,
    radius: int,
    beta: float,
    exp_times: int,
    bg_threshold: float,
    path: PathRule = "reference",
) -> np.ndarray:
    """Pseudo-labels 0..C at full ``size`` from stride-4 CAMs and IRN's stride-4 boundary map.

    After the walk the maps are upsampled x4 (cropped to the image), divided by their global
    maximum, and a background plane at ``bg_threshold`` joins the argmax. An image with no class
    (no maps) is all background, as the reference writes it.
    """
    if len(keys) == 0:
        return np.zeros(size, dtype=np.uint8)
    cams = torch.from_numpy(np.ascontiguousarray(cam_stride4, dtype=np.float32)).to(edge.device)
    walked = random_walk(cams, edge, radius=radius, beta=beta, exp_times=exp_times, path=path)
    upsampled = F.interpolate(walked[None], scale_factor=4, mode="bilinear", align_corners=False)[
        0, :, : size[0], : size[1]
    ]
    upsampled = upsampled / upsampled.max().clamp_min(1e-5)
    with_background = torch.cat([torch.full_like(upsampled[:1], bg_threshold), upsampled])
    values = label_values(keys)
    return values[with_background.argmax(dim=0).cpu().numpy()]


def write_walked_labels(
    item: tuple[CamLabelJob, np.ndarray | torch.Tensor],
    radius: int,
    beta: float,
    exp_times: int,
    bg_threshold: float,
    path: PathRule = "reference",
) -> np.ndarray:
    """:func:`propagated_labels` of one image (its job and stride-4 edge map) written to ``<output>/<id>.png``."""
    job, edge = item
    edge = torch.as_tensor(edge)
    if edge.device.type != "cuda":
        torch.set_num_threads(1)  # one worker process per core already
    record = load_cam(job.cams, job.image_id, expected_keys=np.array(job.keys, dtype=np.int64))
    if tuple(edge.shape) != record.cam_stride4.shape[1:]:
        raise DatasetError(
            f"{cam_path(job.cams, job.image_id)}: stride-4 CAM of {job.image_id!r} is {record.cam_stride4.shape[1:]}, "
            f"its edge map {tuple(edge.shape)}"
        )
    labels = propagated_labels(
        record.cam_stride4,
        record.keys,
        edge,
        record.cam.shape[1:],
        radius=radius,
        beta=beta,
        exp_times=exp_times,
        bg_threshold=bg_threshold,
        path=path,
    )
    return write_job_labels(job, labels)
