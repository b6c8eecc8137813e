"""The project's mmseg modules, registered on import: the ResNet with deeplab-pytorch's stem pooling,
DeepLabV2's head, its balanced loss, its MSC training, its stepped poly learning rate, the image
loader that reads through the project's reader, bf16 autocast on the CPU and the AdamW that steps
channels-last weights without copies (:mod:`wsss.optimizers`).

Imported by :func:`wsss.models.segmenter.register_modules` (mmseg is slow to import, so nothing
else imports this module at load time).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS
from mmseg.models.backbones import ResNet
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import HOOKS, MODELS, TRANSFORMS
from mmseg.utils import add_prefix

from wsss.data.images import read_rgb
from wsss.models.deeplab import (
    balanced_cross_entropy,
    labels_at,
    max_fused,
    scale_pyramid_logits,
    stepped_poly_factor,
)
from wsss.models.seg_resume import RECORD_SUFFIX, write_record
from wsss.optimizers import ChannelsLastAdamW


@TRANSFORMS.register_module()
class LoadImageWithProjectReader(BaseTransform):
    """mmcv's LoadImageFromFile through :func:`wsss.data.images.read_rgb`, the reader of every other stage.

    The segmenter then trains on exactly the pixels its pseudo-labels were made from: the same
    EXIF orientation, grey / RGBA / palette / 16-bit conversions and errors naming the file.
    The image is handed on in BGR order, as mmcv loads it and the pipeline expects.
    """

    def __init__(self, to_float32: bool = False):
        self.to_float32 = to_float32

    def transform(self, results: dict) -> dict:
        image = np.ascontiguousarray(read_rgb(results["img_path"])[:, :, ::-1])
        if self.to_float32:
            image = image.astype(np.float32)
        results["img"] = image
        results["img_shape"] = image.shape[:2]
        results["ori_shape"] = image.shape[:2]
        return results


@MODELS.register_module()
class StemPoolResNet(ResNet):
    """mmseg's ResNet whose stem max-pool may round its output size up, as deeplab-pytorch's
    (``ceil_mode=True``): a 321 crop's MSC logits are then 41 / 21 / 31 at scales 1 / 0.5 / 0.75
    (mmseg's floor gives 41 / 20 / 30)."""

    def __init__(self, stem_pool_ceil_mode: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.maxpool.ceil_mode = stem_pool_ceil_mode


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLab v2's ASPP: dilated 3x3 classifiers on the last features, their outputs summed."""

    def __init__(self, dilations: tuple[int, ...] = (6, 12, 18, 24), **kwargs):
        kwargs.setdefault("init_cfg", {"type": "Normal", "std": 0.01, "override": {"name": "aspp"}})
        super().__init__(**kwargs)
        del self.conv_seg  # the summed classifiers are the output layer
        self.aspp = torch.nn.ModuleList(
            torch.nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d) for d in dilations
        )

    def forward(self, inputs):
        features = self._transform_inputs(inputs)
        return sum(classifier(features) for classifier in self.aspp)


@MODELS.register_module()
class BalancedCrossEntropyLoss(torch.nn.Module):
    """CLIMS' DeepLab loss as an mmseg loss module: see :func:`~wsss.models.deeplab.balanced_cross_entropy`."""

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None, ignore_index: int = 255
    ) -> torch.Tensor:
        if weight is not None:  # mmseg passes pixel weights only when a pixel sampler is configured
            raise ValueError("BalancedCrossEntropyLoss takes no pixel weights (no seg sampler)")
        return balanced_cross_entropy(logits, labels, ignore_index)

    @property
    def loss_name(self) -> str:
        return "loss_balanced_ce"


@MODELS.register_module()
class MultiScaleEncoderDecoder(EncoderDecoder):
    """An EncoderDecoder whose training loss can be DeepLab's MSC wrapper's.

    With ``msc_scales`` (0.5, 0.75), the loss is summed over four outputs: the logits of the
    image, of the image at 0.5 and at 0.75, and their element-wise max (as CLIMS' DeepLabV2).
    ``loss_at_logits`` computes each loss at its output's resolution, the labels resized by
    nearest neighbour (the reference); otherwise the logits are upsampled to the labels (mmseg).
    With no scales and the loss at the labels, training is exactly mmseg's EncoderDecoder's.
    Inference is unchanged (the test-time fusion is eval_seg's).
    """

    def __init__(self, msc_scales: tuple[float, ...] = (), loss_at_logits: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.msc_scales = tuple(msc_scales)
        self.loss_at_logits = loss_at_logits

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.extract_feat(inputs))

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        pyramid = scale_pyramid_logits(self._logits, inputs, (1.0, *self.msc_scales))
        outputs = {"decode": pyramid[0]}
        outputs.update({f"decode_x{scale}": logits for scale, logits in zip(self.msc_scales, pyramid[1:])})
        if self.msc_scales:
            outputs["decode_max"] = max_fused(pyramid)
        losses = {}
        for name, logits in outputs.items():
            losses.update(add_prefix(self._output_loss(logits, data_samples), name))
        return losses

    def _output_loss(self, logits: torch.Tensor, data_samples: list) -> dict:
        head = self.decode_head
        logits = logits.float()  # under bf16 autocast the loss is still computed in fp32
        if not self.loss_at_logits:
            return head.loss_by_feat(logits, data_samples)
        labels = labels_at(torch.stack([sample.gt_sem_seg.data for sample in data_samples]), logits.shape[2:])
        return {head.loss_decode.loss_name: head.loss_decode(logits, labels, ignore_index=head.ignore_index)}


@PARAM_SCHEDULERS.register_module()
class SteppedPolyLR(LRSchedulerMixin, _ParamScheduler):
    """deeplab-pytorch's PolynomialLR: at optimiser step k the initial rate times
    :func:`~wsss.models.deeplab.stepped_poly_factor` (k, ``iterations``, ``power``, ``step_size``).

    mmengine steps schedulers every forward pass; with ``accumulation`` passes per optimiser step,
    pass i belongs to step i // accumulation. Closed form, so a resumed run continues exactly."""

    def __init__(self, optimizer, iterations: int, power: float, step_size: int, accumulation: int, **kwargs):
        self.iterations, self.power, self.step_size, self.accumulation = iterations, power, step_size, accumulation
        super().__init__(optimizer, **kwargs)

    def _get_value(self) -> list[float]:
        step = self.last_step // self.accumulation
        factor = stepped_poly_factor(step, self.iterations, self.power, self.step_size)
        return [base * factor for base in self.base_values]


@HOOKS.register_module()
class RecordedCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook that records each checkpoint's size and sha256 once saved.

    Only checkpoints with a matching record are resumed from (see :mod:`wsss.models.seg_resume`);
    records of checkpoints the hook has since deleted go too.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        super()._save_checkpoint_with_step(runner, step, meta)
        if not is_main_process():  # only rank 0 saved the checkpoint
            return
        saved = Path(self.last_ckpt)
        for record in saved.parent.glob(f"*{RECORD_SUFFIX}"):
            if not record.with_name(record.name.removesuffix(RECORD_SUFFIX)).exists():
                record.unlink(missing_ok=True)
        write_record(saved, step)


OPTIMIZERS.register_module(module=ChannelsLastAdamW)  # train_seg's models are channels-last too


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """mmengine's OptimWrapper with the forward pass under bf16 autocast on the CPU.

    mmengine's AmpOptimWrapper is for accelerators only; bf16 keeps fp32's exponent range, so it
    needs no loss scaling. Used on CPUs that compute bf16 natively (:func:`wsss.device.fast_bf16`).
    """

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast("cpu", dtype=torch.bfloat16):
            yield
