"""torchao, PyTorch's quantization library, for lessons L5-B, L6-C and L7-B: imported without its
known warnings under the CPU build of torch, and the few steps the lesson repeats (quantize a copy
of a model, open a quantized weight, measure a saved model).

Importing this module imports torchao. Nothing else of the course imports torchao at load time.
"""

from __future__ import annotations

import copy
import io
import logging
import re

import torch

# What torchao 0.18 prints when it is imported with the CPU build of torch, and only that:
# its two CUDA kernel libraries cannot load, and torch notes an API torchao still calls. Both go
# through the `logging` module; anything else those loggers say still shows.
KNOWN_IMPORT_NOISE = {
    "torchao": re.compile(r"Failed to load \S*/_C_(mxfp8|cutlass_90a)[^/]*\.so: "),
    "torch.utils._pytree": re.compile(r"<enum 'KernelPreference'> is an Enum subclass"),
}


class _KnownNoise(logging.Filter):
    """Drops the log records of one logger whose message matches ``pattern``."""

    def __init__(self, pattern: re.Pattern) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


# Lesson L6-C's formats module adds one more note of the same kind, about another enum.
MX_IMPORT_NOISE = re.compile(r"<enum 'ScaleCalculationMode'> is an Enum subclass")

for _name, _pattern in KNOWN_IMPORT_NOISE.items():
    logging.getLogger(_name).addFilter(_KnownNoise(_pattern))
logging.getLogger("torch.utils._pytree").addFilter(_KnownNoise(MX_IMPORT_NOISE))

import torchao  # after the filters, which keep its known warnings out
from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2
from torchao.prototype.mx_formats.mx_tensor import MXTensor
from torchao.quantization import (
    Int8DynamicActivationInt8WeightConfig,
    Int8WeightOnlyConfig,
    IntxWeightOnlyConfig,
    quantize_,
)
from torchao.quantization.granularity import PerAxis, PerGroup
from torchao.quantization.qat import IntxFakeQuantizeConfig, IntxFakeQuantizer
from torchao.quantization.quant_primitives import (
    MappingType,
    choose_qparams_affine,
    quantize_affine,
)
from torchao.quantization.quantize_.workflows.nf4.nf4_tensor import to_nf4

# What the course uses of torchao, importable from here, so that no module of the course needs
# to import torchao before this one (which a sort of the imports could do).
__all__ = [
    "MX_ELEMENT_DTYPES",
    "Int8DynamicActivationInt8WeightConfig",
    "Int8WeightOnlyConfig",
    "IntxFakeQuantizeConfig",
    "IntxFakeQuantizer",
    "IntxWeightOnlyConfig",
    "MXTensor",
    "MappingType",
    "PerAxis",
    "PerGroup",
    "choose_qparams_affine",
    "int8_asymmetric_per_token",
    "load_saved",
    "nf4_codes",
    "quantize_",
    "quantize_affine",
    "quantized_copy",
    "saved_bytes",
    "stored_tensors",
    "to_nf4",
    "torchao",
]

VERSION = torchao.__version__

# torchao's MX element types, by helper's format names (lesson L6-C).
MX_ELEMENT_DTYPES = {
    "e2m1": torch.float4_e2m1fn_x2,
    "e4m3": torch.float8_e4m3fn,
    "e5m2": torch.float8_e5m2,
    "e2m3": DTYPE_FP6_E2M3,
    "e3m2": DTYPE_FP6_E3M2,
}


def nf4_codes(nf4_tensor) -> torch.Tensor:
    """The 4-bit codes a torchao ``NF4Tensor`` stores two to a byte (the first in the high
    half), one uint8 each, in the tensor's shape."""
    packed = nf4_tensor.quantized_data
    return torch.stack([packed >> 4, packed & 0b1111], dim=-1).reshape(nf4_tensor.shape)


def quantized_copy(model: torch.nn.Module, config) -> torch.nn.Module:
    """A copy of ``model`` quantized in place by ``torchao.quantization.quantize_(copy, config)``
    (the original is left untouched)."""
    quantized = copy.deepcopy(model)
    quantize_(quantized, config)
    return quantized


def linear_holding(weight: torch.Tensor) -> torch.nn.Linear:
    """An ``nn.Linear`` (no bias) whose weight is a copy of ``weight`` (out, in), for torchao to
    quantize; built without a random initialisation, so the global random state is untouched."""
    linear = torch.nn.utils.skip_init(torch.nn.Linear, weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight)
    return linear


def stored_tensors(weight: torch.Tensor) -> dict[str, object]:
    """What a torchao weight stores: its tensors (``qdata``, ``scale``, ``zero_point`` ...),
    the optional ones it holds included, and its attributes (``block_size``, ``dtype`` ...), by
    name."""
    optional = getattr(weight, "optional_tensor_data_names", None) or []
    held = [name for name in optional if getattr(weight, name, None) is not None]
    names = [*weight.tensor_data_names, *held, *weight.tensor_attribute_names]
    return {name: getattr(weight, name) for name in names}


def saved_bytes(model: torch.nn.Module) -> tuple[int, bytes]:
    """The size in bytes of ``torch.save(model.state_dict())``, and the saved bytes."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell(), buffer.getvalue()


def int8_asymmetric_per_token(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(qdata, scale, zero_point)`` of ``x`` quantized to int8 asymmetric, one scale and zero
    point per row of its last axis (per token), with the arguments torchao 0.18's
    ``Int8DynamicActivationIntxWeightConfig`` gives ``choose_qparams_affine`` and
    ``quantize_affine`` for a layer's input. ``scale`` (float32) and ``zero_point`` (int8) are
    shaped ``x.shape[:-1] + (1,)``."""
    block_size = (*[1] * (x.dim() - 1), x.shape[-1])
    scale, zero_point = choose_qparams_affine(
        x, MappingType.ASYMMETRIC, block_size, torch.int8, -128, 127, zero_point_dtype=torch.int8
    )
    qdata = quantize_affine(x, block_size, scale, zero_point, torch.int8, -128, 127)
    keep = (*x.shape[:-1], 1)
    return qdata, scale.reshape(keep), zero_point.reshape(keep)


def load_saved(saved: bytes, fresh: torch.nn.Module) -> torch.nn.Module:
    """``fresh`` (a model of the same layout, quantized the same way) with the saved state
    loaded into it, the tensors taken as they were saved (``assign=True``)."""
    state = torch.load(io.BytesIO(saved), weights_only=False)
    fresh.load_state_dict(state, assign=True)
    return fresh
