"""ROIAlign (He et al., Mask R-CNN) with the semantics of torchvision's ``roi_align``.

Each output bin averages ``grid_h x grid_w`` bilinearly interpolated samples, where the grid
is ``sampling_ratio`` per side or, when that is <= 0, ``ceil(roi_size / output_size)`` for each
ROI. Bilinear interpolation is separable, so for every ROI the sampling is written as two small
interpolation matrices ``Ay (out_h x H)`` and ``Ax (out_w x W)`` and the output is
``Ay @ feature @ Ax^T`` per channel: two matmuls instead of a gather per sample.
"""

from __future__ import annotations


import torch
from torch import nn


def _interpolation_matrix(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, bins: int, size: int,
                          max_grid: int) -> torch.Tensor:
    """``(K, bins, size)`` weights: row ``p`` sums the 1-D bilinear weights of bin ``p``'s samples."""
    k = start.numel()
    dtype = start.dtype
    steps = torch.arange(max_grid, dtype=dtype)
    p = torch.arange(bins, dtype=dtype)
    # sample coordinate: start + p * bin + (i + 0.5) * bin / grid, shape (K, bins, max_grid)
    coords = start[:, None, None] + p[None, :, None] * bin_size[:, None, None] \
        + (steps[None, None, :] + 0.5) * (bin_size / grid)[:, None, None]
    used = steps[None, None, :] < grid[:, None, None]
    inside = (coords >= -1.0) & (coords <= size) & used
    coords = coords.clamp(min=0)
    low = coords.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(coords), coords - low.to(dtype))
    mask = inside.to(dtype)
    matrix = torch.zeros(k, bins, size, dtype=dtype)
    matrix.scatter_add_(2, low.flatten(2), ((1 - frac) * mask).flatten(2))
    matrix.scatter_add_(2, high.flatten(2), (frac * mask).flatten(2))
    return matrix


def roi_align(input: torch.Tensor, rois: torch.Tensor, output_size: int | tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """Pool ``rois`` (``K x 5``: batch index, x1, y1, x2, y2) of ``input`` (N, C, H, W) to ``output_size``."""
    if input.dim() != 4:
        raise ValueError(f"roi_align expects a 4-D (N, C, H, W) input, got {input.dim()}-D")
    if rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError(f"rois must be K x 5 (batch index, x1, y1, x2, y2), got shape {tuple(rois.shape)}")
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    n, c, h, w = input.shape
    compute = torch.float64 if input.dtype == torch.float64 else torch.float32
    boxes = rois.to(compute)
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (boxes[:, i] * spatial_scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / out_h, roi_w / out_w
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, float(sampling_ratio))
        grid_w = torch.full_like(roi_w, float(sampling_ratio))
    else:
        grid_h, grid_w = torch.ceil(roi_h / out_h), torch.ceil(roi_w / out_w)
    max_h = max(int(grid_h.max().item()) if rois.numel() else 1, 1)
    max_w = max(int(grid_w.max().item()) if rois.numel() else 1, 1)
    ay = _interpolation_matrix(y1, bin_h, grid_h.clamp(min=1), out_h, h, max_h) if rois.numel() else None
    ax = _interpolation_matrix(x1, bin_w, grid_w.clamp(min=1), out_w, w, max_w) if rois.numel() else None
    count = (grid_h * grid_w).clamp(min=1)
    output = input.new_zeros(rois.size(0), c, out_h, out_w, dtype=compute)
    batch_index = boxes[:, 0].long()
    features = input.to(compute)
    for b in batch_index.unique().tolist():
        sel = (batch_index == b).nonzero().squeeze(1)
        rows = torch.einsum("kph,chw->kcpw", ay[sel], features[b])
        output[sel] = torch.einsum("kcpw,kqw->kcpq", rows, ax[sel]) / count[sel][:, None, None, None]
    # Empty grids (roi size 0 with sampling_ratio <= 0) average nothing, as torchvision's count guard.
    output = torch.where((grid_h * grid_w > 0)[:, None, None, None], output, torch.zeros_like(output))
    return output.to(input.dtype)


class ROIAlign(nn.Module):
    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float, sampling_ratio: int,
                 aligned: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")
