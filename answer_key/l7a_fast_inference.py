"""L7-A: quantized inference that is faster: packed integer kernels on the CPU.

At batch 1 a linear layer multiplies each weight once: reading the weights from memory takes
longer than the arithmetic, so the time of a call is about the bytes it reads over the memory's
bandwidth (the roofline):

    flops      F = 2 * batch * in_features * out_features
    time       t >= max(bytes / bandwidth, F / peak_flops)
    intensity  I = F / bytes  (flops per byte read; below peak / bandwidth, memory sets the time)

Fewer bytes per weight is then less time, but only if the multiplication reads the small
integers directly. ``pack_linear`` stores the course's integers and scales
(``quantize_weight_symmetric``, scales in bfloat16) in the layouts of torch's packed CPU
kernels, and multiplies with them:

    8 bits, per channel     y = (x q^T) * s          torch._weight_int8pack_mm
    4 bits, groups of g     y = x ((u - 8) * s)^T    torch.ops.aten._weight_int4pack_mm_for_cpu
                            with u = q + 8 in [0, 15], two values to a byte

Both kernels compute in bfloat16 (their fast path): the input is rounded to bfloat16 and the
output comes back in the input's dtype.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import torch

from answer_key.basics import check_float_tensor, check_int
from answer_key.l3_linear_II import dequantize_blocks
from answer_key.l4b_packing import pack_weights, tensor_bytes, unpack_weights
from answer_key.l4c_quantize_a_network import convert_linears, quantize_weight_symmetric

# --- The roofline: what a call must cost at least ------------------------------------------------


def linear_flops(batch: int, in_features: int, out_features: int) -> int:
    """Floating-point operations of ``batch`` rows through a linear layer: ``2 * batch * in *
    out`` (a multiply and an add per weight per row)."""
    return 2 * batch * in_features * out_features


def roofline_seconds(n_bytes: float, flops: float, bandwidth: float, peak_flops: float) -> float:
    """The least time a call can take: ``max(n_bytes / bandwidth, flops / peak_flops)``, with
    ``bandwidth`` in bytes/s and ``peak_flops`` in flops/s. The first term wins when the
    intensity ``flops / n_bytes`` is below ``peak_flops / bandwidth``: the call is memory-bound."""
    if bandwidth <= 0 or peak_flops <= 0:
        raise ValueError(
            f"bandwidth and peak_flops must be > 0, got {bandwidth!r} and {peak_flops!r}"
        )
    return max(n_bytes / bandwidth, flops / peak_flops)


# --- The int4 kernel's layout: two values to a byte, in blocks of rows ----------------------------

PACKED_BITS = (8, 4)
# The group sizes the int4 kernel accepts (a group is one block of its inner loop).
INT4_GROUP_SIZES = (32, 64, 128, 256)
# torch's CPU kernels are compiled once per instruction set and chosen at start-up
# (``torch.backends.cpu.get_cpu_capability()``; ``ATEN_CPU_CAPABILITY`` forces one).
Capability = Literal["AVX512", "AVX2", "DEFAULT"]


def _capability(capability: str | None) -> str:
    """``capability``, or this machine's; any other instruction set packs like ``DEFAULT``."""
    name = torch.backends.cpu.get_cpu_capability() if capability is None else capability
    return name if name in ("AVX512", "AVX2") else "DEFAULT"


def int4_block_rows(capability: str | None = None) -> int:
    """Rows (output channels) the int4 kernel packs together: 64 with AVX-512 (a 512-bit
    register holds 16 floats, and a block is 4 registers of outputs), else 32."""
    return 64 if _capability(capability) == "AVX512" else 32


def pack_int4_for_cpu(q: torch.Tensor, capability: str | None = None) -> torch.Tensor:
    """Signed 4-bit values ``q`` (out, in), in [-8, 7], packed as
    ``torch.ops.aten._convert_weight_to_int4pack_for_cpu`` packs ``q + 8``: uint8 (out, in / 2).

    The rows go in blocks of ``int4_block_rows`` (a last, shorter block as it is); within a
    block, column by column, each byte holds two rows' values ``u = q + 8``: ``low | high << 4``.
    Which two rows share a byte is what lets the kernel unpack a whole register at once:
    - AVX-512 (blocks of 64, as 4 lanes of 16 rows): lane 0 with lane 2, lane 1 with lane 3;
    - AVX2 (blocks of 32, 2 lanes of 16): lane 0 with lane 1;
    - otherwise, and in a shorter last block: row 2i with row 2i + 1.
    """
    if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 or q.dim() != 2:
        raise TypeError(f"q must be a 2-D torch.int8 tensor of 4-bit values, got {_kind(q)}")
    out_features, in_features = q.shape
    if out_features % 16 or in_features % 2 or not q.numel():
        raise ValueError(
            f"q must have a multiple of 16 rows and an even number of columns, got {tuple(q.shape)}"
        )
    if int(q.min()) < -8 or int(q.max()) > 7:
        raise ValueError(
            f"q must hold 4-bit values in [-8, 7], got [{int(q.min())}, {int(q.max())}]"
        )
    u = (q + 8).to(torch.uint8)
    block = int4_block_rows(capability)
    lanes_paired = _capability(capability) != "DEFAULT"
    full = out_features - out_features % block
    parts = [_pack_blocks(u[:full], block, lanes_paired)] if full else []
    if full < out_features:  # the shorter last block: neighbouring rows share a byte
        parts.append(_pack_blocks(u[full:], out_features - full, False))
    return torch.cat(parts).reshape(out_features, in_features // 2)


def _pack_blocks(u: torch.Tensor, block: int, lanes_paired: bool) -> torch.Tensor:
    """Blocks of ``block`` rows of ``u``, each packed column by column into bytes, flat."""
    blocks = u.reshape(-1, block, u.shape[1])  # (blocks, rows, in)
    if lanes_paired:  # the first half of the lanes of 16 rows in the low nibbles, the rest high
        lanes = blocks.reshape(blocks.shape[0], 2, block // 32, 16, u.shape[1])
        low, high = lanes[:, 0], lanes[:, 1]  # (blocks, lanes / 2, 16, in)
        packed = (low | high << 4).permute(0, 3, 1, 2)  # (blocks, in, lanes / 2, 16)
    else:  # rows 2i (low) and 2i + 1 (high)
        pairs = blocks.reshape(blocks.shape[0], block // 2, 2, u.shape[1])
        packed = (pairs[:, :, 0] | pairs[:, :, 1] << 4).transpose(1, 2)  # (blocks, in, rows / 2)
    return packed.reshape(-1)


def _kind(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dim()}-D {value.dtype} tensor"
    return type(value).__name__


# --- The kernels, and a layer that runs on them ---------------------------------------------------


@functools.cache
def packed_kernel_available(bits: int) -> bool:
    """Whether torch has the packed CPU kernel for ``bits`` (8 or 4) here: one tiny call of it."""
    bits = check_int(bits, "bits", PACKED_BITS, "8 or 4 (the packed kernels' widths)")
    x = torch.zeros(1, 64, dtype=torch.bfloat16)
    try:
        if bits == 8:
            torch._weight_int8pack_mm(x, torch.zeros(16, 64, dtype=torch.int8), x[0, :16])
        else:
            weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
                torch.zeros(16, 64, dtype=torch.int32), 1
            )
            scales = torch.zeros(2, 16, 2, dtype=torch.bfloat16)
            torch.ops.aten._weight_int4pack_mm_for_cpu(x, weight, 32, scales)
    except (AttributeError, NotImplementedError, RuntimeError):
        return False
    return True


_WARNED: set[int] = set()


def _warn_fallback_once(bits: int) -> None:
    if bits not in _WARNED:
        _WARNED.add(bits)
        warnings.warn(
            f"torch {torch.__version__} has no packed {bits}-bit CPU kernel here: pack_linear's "
            "layers dequantize their weights and multiply in float32 instead (the same numbers, "
            "not faster)",
            RuntimeWarning,
            stacklevel=3,
        )


class PackedLinear(torch.nn.Module):
    """A linear layer whose weights are the course's integers, stored as torch's packed CPU
    kernels read them, and multiplied by those kernels (``pack_linear`` makes one).

    Buffers: ``weight_packed``: int8 (out, in) for 8 bits; uint8 (out, in / 2) in the int4
    kernel's layout (``pack_int4_for_cpu``) for 4 bits; ``scale``: bfloat16, one per output
    channel (8 bits) or the int4 kernel's ``(in / g, out, 2)`` scales and zeros (the zeros are
    0: the course's mode is symmetric); ``bias``: float32 or None. Without a kernel
    (``uses_kernel`` False) the 4-bit values are packed as ``pack_weights`` packs them, and the
    forward pass dequantizes them, the course's way.
    """

    def __init__(
        self,
        q: torch.Tensor,
        scale: torch.Tensor,
        bits: int,
        group_size: int | None,
        bias: torch.Tensor | None,
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.bits, self.group_size = bits, group_size
        self.uses_kernel = packed_kernel_available(bits)
        if not self.uses_kernel:
            _warn_fallback_once(bits)
            weight = pack_weights(q, 4) if bits == 4 else q
        elif bits == 8:
            weight, scale = q, scale.reshape(-1)
        else:  # (in / g, out, 2): each group's scale, and a zero of 0
            weight = pack_int4_for_cpu(q)
            scale = torch.stack([scale.t(), torch.zeros_like(scale.t())], dim=-1).contiguous()
        self.register_buffer("weight_packed", weight)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def int_weight(self) -> torch.Tensor:
        """The course's integers q (out, in) as int8: the stored bytes, unpacked."""
        if self.bits == 8:
            return self.weight_packed
        if not self.uses_kernel:
            return unpack_weights(self.weight_packed, 4, self._shape, signed=True)
        return self._kernel_unpack()

    def _kernel_unpack(self) -> torch.Tensor:
        """q from the kernel's own bytes: the kernel times the identity, with scale 1, zero 8."""
        eye = torch.eye(self.in_features, dtype=torch.bfloat16)
        ones = torch.ones_like(self.scale)
        ones[..., 1] = 8  # (u - 8) * 1 + 8 = u
        u = torch.ops.aten._weight_int4pack_mm_for_cpu(
            eye, self.weight_packed, self.group_size, ones
        )
        return (u.t().round() - 8).to(torch.int8)

    @property
    def _shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    def scales(self) -> torch.Tensor:
        """The scales as ``quantize_weight_symmetric`` gives them: (out, 1) or (out, in / g)."""
        if self.bits == 8:
            return self.scale.reshape(-1, 1)
        return self.scale[..., 0].t() if self.uses_kernel else self.scale

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``y = x W'^T + b`` with ``W' = s q``, on the kernel, in the input's dtype: ``x`` cast
        to bfloat16, the kernel, then ``b`` added in its own dtype (float32, or float64 after
        ``.double()``), which casts the kernel's bfloat16 output up; a last cast only where the
        input's dtype is another."""
        if not isinstance(input, torch.Tensor) or input.shape[-1:] != (self.in_features,):
            raise ValueError(
                f"input must be a tensor whose last axis has in_features = {self.in_features} "
                f"values, got {_kind(input)} shaped {tuple(getattr(input, 'shape', ()))}"
            )
        x, bias = input.reshape(-1, self.in_features), self.bias
        if not self.uses_kernel:  # the course's way: W' = s q in float32, then the product
            weight = dequantize_blocks(self.int_weight(), self.scales().float(), 0, self._block)
            y = torch.nn.functional.linear(x.float(), weight, bias).to(input.dtype)
            return y.reshape(*input.shape[:-1], self.out_features)
        x = x.to(torch.bfloat16).contiguous()
        if self.bits == 8:
            y = torch._weight_int8pack_mm(x, self.weight_packed, self.scale)
        else:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(
                x, self.weight_packed, self.group_size, self.scale
            )
        if bias is not None:  # bfloat16 + float32 is computed, and returned, in float32
            y = y + bias
        if y.dtype != input.dtype:
            y = y.to(input.dtype)
        return y.reshape(*input.shape[:-1], self.out_features)

    @property
    def _block(self) -> tuple[int, int]:
        return (1, self.in_features) if self.bits == 8 else (1, self.group_size)

    @property
    def storage_bytes(self) -> int:
        """Bytes of the stored buffers: the packed weights, the scales (and zeros), the bias."""
        return tensor_bytes(self.weight_packed, self.scale, self.bias)

    def extra_repr(self) -> str:
        group = f", group_size={self.group_size}" if self.bits == 4 else ", per-channel"
        kernel = "packed kernel" if self.uses_kernel else "dequantize-then-matmul (no kernel)"
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bits={self.bits}{group}, {kernel}, bias={self.bias is not None}"
        )


def pack_linear(layer: torch.nn.Linear, bits: int, group_size: int | None = None) -> PackedLinear:
    """``layer`` quantized the course's way and packed for torch's CPU kernels.

    ``bits`` 8: per output channel (``group_size`` must be None), ``in_features`` a multiple of
    32 (the kernel reads 32 inputs at a time). ``bits`` 4: groups of ``group_size`` inputs (32
    when None; the kernel takes 32, 64, 128 or 256), ``out_features`` a multiple of 16. The
    integers and scales are ``quantize_weight_symmetric(weight, bits, ..., torch.bfloat16)``'s,
    bit for bit: the kernels compute in bfloat16. The bias is kept in float32.
    """
    if not isinstance(layer, torch.nn.Linear):
        raise TypeError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
    bits = check_int(bits, "bits", PACKED_BITS, "8 or 4 (the packed kernels' widths)")
    weight = check_float_tensor(layer.weight.detach(), "layer.weight")
    if weight.device.type != "cpu":
        raise ValueError(
            f"layer's weight is on {weight.device}: these are torch's CPU kernels; move the layer "
            "with layer.cpu() first"
        )
    out_features, in_features = weight.shape
    if bits == 8:
        if group_size is not None:
            raise ValueError(
                f"group_size must be None for 8 bits (the int8 kernel takes one scale per "
                f"output channel), got {group_size!r}"
            )
        if in_features % 32:
            raise ValueError(
                f"the int8 kernel needs in_features to be a multiple of 32, got {in_features}"
            )
        q, scale = quantize_weight_symmetric(weight, 8, "per-channel", None, torch.bfloat16)
    else:
        group_size = 32 if group_size is None else group_size
        check_int(
            group_size, "group_size", INT4_GROUP_SIZES, "32, 64, 128 or 256 (the int4 kernel's)"
        )
        if in_features % group_size or out_features % 16:
            raise ValueError(
                f"the int4 kernel needs in_features to be a multiple of group_size {group_size} "
                f"and out_features a multiple of 16, got ({out_features}, {in_features})"
            )
        q, scale = quantize_weight_symmetric(weight, 4, "per-group", group_size, torch.bfloat16)
    return PackedLinear(q, scale, bits, group_size if bits == 4 else None, layer.bias)


def pack_model(model: torch.nn.Module, bits: int, group_size: int | None = None) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by ``pack_linear(layer, bits,
    group_size)``; the original model is left untouched."""
    return convert_linears(model, lambda name, layer: pack_linear(layer, bits, group_size))
