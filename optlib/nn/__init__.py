"""Modules for CPU inference that stock PyTorch lacks or runs as several ops."""

from optlib.nn.frozen_batch_norm import FrozenBatchNorm2d
from optlib.nn.interaction import Interaction
from optlib.nn.merged_embedding_bag import MergedEmbeddingBag
from optlib.nn.roi_align import ROIAlign, roi_align

__all__ = ["FrozenBatchNorm2d", "Interaction", "MergedEmbeddingBag", "ROIAlign", "roi_align"]
