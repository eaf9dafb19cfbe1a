"""Modules built on pygan's ops, drop-ins for their torch equivalents."""
from .conv_transpose_bn_act import ConditionalConvTransposeBNAct, ConvTransposeBNAct

__all__ = ["ConditionalConvTransposeBNAct", "ConvTransposeBNAct"]
