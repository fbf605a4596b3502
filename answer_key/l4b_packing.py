"""L4-B: packing low-bit weights into bytes, and measuring the storage a tensor really takes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from answer_key.basics import (
    _check_int_tensor,
    _check_tensor_dtype,
    check_int,
    integer_dtype,
    q_range,
)

# --- L4-B: packing low-bit weights into bytes, and measuring real storage ------------------------

# Bit widths that tile a byte exactly: 8 // bits values per byte.
PACKABLE_BITS = (1, 2, 4)


def packed_length(n: int, bits: int) -> int:
    """Bytes that hold ``n`` values of ``bits`` bits each: ``ceil(n * bits / 8)``."""
    return -(-n * _check_packable_bits(bits) // 8)


def pack_weights(q: torch.Tensor, bits: int, signed: bool | None = None) -> torch.Tensor:
    """Pack integer values of ``bits`` bits (1, 2 or 4) into a 1-D uint8 tensor.

    Value i goes to byte ``i // (8 // bits)``, at bit offset ``bits * (i % (8 // bits))`` (the
    first value in the lowest bits); negative values are stored in two's complement within
    ``bits``. ``ceil(n * bits / 8)`` bytes for ``n = q.numel()``; the unused bits of the last
    byte are 0. ``signed`` (the range the values must lie in) defaults to the dtype's own:
    unsigned for uint8, signed for int8 and the wider types.
    """
    bits = _check_packable_bits(bits)
    q = _check_int_tensor(q, "q")
    signed = q.dtype.is_signed if signed is None else bool(signed)
    low, high = q_range(integer_dtype(bits, signed))
    q_min, q_max = (int(v) for v in torch.aminmax(q))
    if q_min < low or q_max > high:
        kind = "signed" if signed else "unsigned"
        raise ValueError(
            f"q holds values in [{q_min}, {q_max}], outside the {kind} {bits}-bit range "
            f"[{low}, {high}] (pass signed={not signed} if the values are {'un' * signed}signed)"
        )
    per_byte = 8 // bits
    n = q.numel()
    flat = q.reshape(-1).to(torch.uint8)  # two's complement bytes; keep the low `bits` bits
    if n % per_byte:
        flat = torch.cat([flat, flat.new_zeros(per_byte - n % per_byte)])
    fields = flat.reshape(-1, per_byte).bitwise_and_(2**bits - 1)
    packed = fields[:, 0].clone()
    for position in range(1, per_byte):  # a loop over the positions in a byte, not the values
        packed.bitwise_or_(fields[:, position] << (bits * position))
    return packed


def unpack_weights(
    packed: torch.Tensor, bits: int, shape: Sequence[int], signed: bool = False
) -> torch.Tensor:
    """Undo ``pack_weights``: the values of ``shape``, as uint8 (or int8 when ``signed``).

    Every byte is shifted right by ``0, bits, 2 bits, ...`` and masked to its low ``bits`` bits;
    signed values are sign-extended from bit ``bits - 1``.
    """
    bits = _check_packable_bits(bits)
    _check_tensor_dtype(packed, "packed", torch.uint8, " (from pack_weights)")
    if isinstance(shape, int) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape
    ):
        raise ValueError(f"shape must be a sequence of non-negative ints, got {shape!r}")
    n = math.prod(shape)
    if packed.numel() != packed_length(n, bits):
        raise ValueError(
            f"packed has {packed.numel()} bytes but shape {tuple(shape)} needs "
            f"ceil({n} * {bits} / 8) = {packed_length(n, bits)} bytes of {bits}-bit values"
        )
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=packed.device)
    if signed:  # move each field to the top of the byte, then shift back arithmetically
        fields = (packed.reshape(-1, 1) << (8 - bits - shifts)).view(torch.int8) >> (8 - bits)
    else:
        fields = (packed.reshape(-1, 1) >> shifts).bitwise_and_(2**bits - 1)
    return fields.reshape(-1)[:n].reshape(tuple(shape))


def tensor_bytes(*tensors: torch.Tensor | None) -> int:
    """The bytes the tensors' data take: ``sum(t.numel() * t.element_size())`` (None counts 0)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


# --- checks of this lesson's arguments -----------------------------------------------------------


def _check_packable_bits(bits: object) -> int:
    """``bits`` if it is 1, 2 or 4: a width that tiles a byte (``PACKABLE_BITS``)."""
    return check_int(bits, "bits", PACKABLE_BITS, "1, 2 or 4 (a width that tiles a byte)")
