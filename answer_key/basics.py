"""What every lesson's maths shares: the types of a mode and a granularity, the integer data
types and their ranges, and the checks of the arguments, one for each kind, written once.

Every function of the answer key checks its arguments with these, and the ``course`` package
reuses the public ones (``helper.check_int``, ...) rather than writing its own.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Literal

import torch

Mode = Literal["symmetric", "asymmetric"]
Granularity = Literal["per-tensor", "per-channel", "per-group"]


# --- L2-A: integer data types and their ranges ---------------------------------------------------

# Sub-byte integer types: torch names them but cannot compute with them. The course holds their
# values in an 8-bit container (int8 for signed, uint8 for unsigned).
_SUB_BYTE = {
    **{getattr(torch, f"int{b}"): (b, True) for b in range(1, 8) if hasattr(torch, f"int{b}")},
    **{getattr(torch, f"uint{b}"): (b, False) for b in range(1, 8) if hasattr(torch, f"uint{b}")},
}


def dtype_bits(dtype: torch.dtype) -> int:
    """Number of bits of an integer ``dtype``: 8 for ``torch.int8``, 4 for ``torch.int4``."""
    dtype = check_dtype(dtype)
    return _SUB_BYTE[dtype][0] if dtype in _SUB_BYTE else torch.iinfo(dtype).bits


def q_range(dtype: torch.dtype = torch.int8) -> tuple[int, int]:
    """``(q_min, q_max)`` of an integer ``dtype``, sub-byte types included.

    A signed b-bit type holds ``[-2**(b-1), 2**(b-1) - 1]``, an unsigned one ``[0, 2**b - 1]``:
    ``q_range(torch.int8) == (-128, 127)``, ``q_range(torch.uint4) == (0, 15)``.
    """
    dtype = check_dtype(dtype)
    if dtype in _SUB_BYTE:
        bits, signed = _SUB_BYTE[dtype]
        return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def storage_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype that holds values of ``dtype``: itself, or int8/uint8 for a sub-byte type."""
    dtype = check_dtype(dtype)
    if dtype in _SUB_BYTE:
        return torch.int8 if _SUB_BYTE[dtype][1] else torch.uint8
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    """The short name of a torch dtype, as the lessons write it: ``"int8"``, ``"float16"``."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch dtype such as torch.int8, got {dtype!r}")
    return str(dtype).removeprefix("torch.")


def integer_dtype(bits: int, signed: bool = True) -> torch.dtype:
    """The torch dtype of a ``bits``-wide integer: ``integer_dtype(4) is torch.int4``."""
    check_int(bits, "bits", range(1, 65), "an int from 1 to 64")
    name = f"{'' if signed else 'u'}int{bits}"
    if not hasattr(torch, name):
        raise ValueError(f"torch has no {name} dtype")
    return getattr(torch, name)


# --- Checks on arguments: one for each kind of argument, written once ----------------------------

# Every function above checks its arguments with these. The public ones are the course package's
# too (``helper.check_int``, ...): it reuses them rather than writing its own.

_POSITIVE = range(1, sys.maxsize)


def check_dtype(dtype: object) -> torch.dtype:
    """``dtype`` if it is a torch integer dtype (sub-byte ones included).

    Else a TypeError naming ``dtype`` and what was expected.
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch integer dtype such as torch.int8, got {dtype!r}")
    if dtype not in _SUB_BYTE and (
        dtype.is_floating_point or dtype.is_complex or dtype == torch.bool
    ):
        raise TypeError(
            f"dtype must be an integer dtype (torch.int8, torch.uint8, torch.int4, ...), "
            f"got {dtype}"
        )
    return dtype


def check_int(value: object, name: str, allowed: Sequence[int], expected: str) -> int:
    """``value`` if it is an int (not a bool) in ``allowed``.

    Else a ValueError: "``name`` must be ``expected``, got ``value``".
    """
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """``value`` if it is an int >= 1; else a ValueError naming ``name``."""
    return check_int(value, name, _POSITIVE, "a positive int")


def check_bits(bits: object, name: str = "bits") -> int:
    """``bits`` if it is an int from 2 to 8: a width that symmetric mode can use.

    Symmetric mode needs 2 bits at least (``q_max >= 1``); 8 is the widest container.
    """
    return check_int(bits, name, range(2, 9), "an int from 2 to 8 (symmetric needs 2 bits)")


def check_float_tensor(tensor: object, name: str = "tensor") -> torch.Tensor:
    """``tensor`` if it is a non-empty floating-point torch tensor.

    Else a TypeError (not a tensor, not floating point) or a ValueError (empty) naming ``name``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}): nothing to quantize")
    return tensor


def _check_int_tensor(tensor: object, name: str) -> torch.Tensor:
    """``tensor`` if it is a non-empty integer torch tensor; else a TypeError or ValueError."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)})")
    return tensor


def _check_tensor_dtype(tensor: object, name: str, dtype: torch.dtype, note: str = "") -> None:
    """A TypeError unless ``tensor`` is a tensor of exactly ``dtype``."""
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype:
        got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        short = dtype_name(dtype)
        article = "an" if short.startswith("int") else "a"
        raise TypeError(f"{name} must be {article} {short} tensor{note}, got {got}")


def check_scale(scale: object) -> torch.Tensor | float:
    """``scale`` as a float, or the floating-point tensor it is, if finite and > 0 everywhere.

    Else a TypeError (not a number or a floating-point tensor) or a ValueError.
    """
    if isinstance(scale, torch.Tensor):
        if not scale.is_floating_point():
            raise TypeError(f"scale must be a float or a floating-point tensor, got {scale.dtype}")
        if scale.numel() == 0 or not bool((scale > 0).all()) or not bool(scale.isfinite().all()):
            raise ValueError("scale must be finite and > 0 everywhere")
        return scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a float or a tensor, got {type(scale).__name__}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    return float(scale)


def check_zero_point(zero_point: object) -> torch.Tensor | int:
    """``zero_point`` as an int, or the tensor it is, if it holds whole numbers.

    Else a TypeError (not a number or a tensor) or a ValueError (not whole).
    """
    if isinstance(zero_point, torch.Tensor):
        if zero_point.is_floating_point() and not bool((zero_point == zero_point.round()).all()):
            raise ValueError("zero_point must hold whole numbers")
        return zero_point
    if isinstance(zero_point, bool) or not isinstance(zero_point, (int, float)):
        raise TypeError(f"zero_point must be an int or a tensor, got {type(zero_point).__name__}")
    if not float(zero_point).is_integer():
        raise ValueError(f"zero_point must be a whole number, got {zero_point}")
    return int(zero_point)


def check_broadcast(value: object, shape: torch.Size, name: str) -> None:
    """A ValueError naming ``name`` if the tensor ``value`` does not broadcast to ``shape``.

    The broadcasting rule, right-aligned: each of the value's sizes is 1 or the tensor's size.
    A number always broadcasts.
    """
    if not isinstance(value, torch.Tensor):
        return
    sizes = tuple(value.shape)
    fits = len(sizes) <= len(shape) and all(
        size in (1, target) for size, target in zip(reversed(sizes), reversed(shape))
    )
    if not fits:
        raise ValueError(
            f"{name} of shape {tuple(value.shape)} does not broadcast to the tensor's shape "
            f"{tuple(shape)}"
        )


def check_divides(size: int, block: object, name: str, what: str) -> int:
    """``block`` if it is a positive int that divides ``size``; else a ValueError naming ``name``
    and ``what`` it must divide."""
    check_positive_int(block, name)
    if size % block:
        raise ValueError(f"{name} {block} must divide {what}, {size}")
    return block
