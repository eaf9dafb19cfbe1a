"""pygan's operators: one module per op, each with the public function, its
fake (meta) kernel, and a pure-PyTorch ``<op>_reference``."""
from ._registry import has_kernel
from .conv_transpose_bn_act import conv_transpose_bn_act, conv_transpose_bn_act_reference
from .rmsprop_clip import rmsprop_clip_, rmsprop_clip_reference
from .rollout import RolloutParams, rollout, rollout_reference

__all__ = ["conv_transpose_bn_act", "conv_transpose_bn_act_reference", "has_kernel",
           "rmsprop_clip_", "rmsprop_clip_reference", "RolloutParams", "rollout",
           "rollout_reference"]
