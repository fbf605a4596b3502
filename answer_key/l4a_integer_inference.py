"""L4-A: integer inference (W8A8): int8 products accumulated in int32, then one rescale.

y = s_x s_w (q_x - z_x) q_w^T
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from answer_key.basics import _check_tensor_dtype, check_scale, check_zero_point
from answer_key.l3_linear_II import _check_linear_shapes

# --- L4-A: integer inference (W8A8): int8 products accumulated in int32, one rescale -------------

# The largest magnitude of a product of two int8 values: (-128) * (-128) = 16384.
INT8_PRODUCT_MAX = 128 * 128

MatmulMethod = Literal["auto", "int_mm", "int32"]


def int_mm_supported(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``torch._int_mm`` can compute ``a @ b^T`` for ``a`` (m, k) and ``b`` (n, k).

    It takes two 2-D int8 matrices on one device. On CUDA it also needs m > 16 and k, n
    multiples of 8; the CPU kernel of torch 2.13 takes any sizes (the tests check it), given
    the strides ``int8_matmul`` hands it.
    """
    if not hasattr(torch, "_int_mm") or a.device != b.device:
        return False
    if a.dim() != 2 or b.dim() != 2 or a.dtype != torch.int8 or b.dtype != torch.int8:
        return False
    if a.device.type == "cuda":
        return a.shape[0] > 16 and a.shape[1] % 8 == 0 and b.shape[0] % 8 == 0
    return a.device.type == "cpu"


def _row_major(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` with the strides of a fresh row-major tensor, ``(columns, 1)``.

    torch 2.13's CPU ``_int_mm`` reads its leading dimensions from the strides, so an axis of
    size 1 with an unusual stride (``b.t()`` when k = 1, an expanded row) gives uninitialised
    memory back without an error (the family of pytorch/pytorch#195066). A copy fixes it.
    """
    if matrix.stride() == (matrix.shape[1], 1):
        return matrix
    return torch.empty(matrix.shape, dtype=matrix.dtype, device=matrix.device).copy_(matrix)


def int8_matmul(a: torch.Tensor, b: torch.Tensor, method: MatmulMethod = "auto") -> torch.Tensor:
    """``a @ b^T`` of int8 matrices ``a`` (m, k) and ``b`` (n, k), accumulated in int32: (m, n).

    ``"int_mm"``: ``torch._int_mm``, one kernel that multiplies int8 and adds in int32;
    ``"int32"``: widen both to int32, then an ordinary matmul; ``"auto"``: ``_int_mm`` where
    ``int_mm_supported`` says it applies, else the int32 matmul. Both give identical results.
    """
    for name, matrix in (("a", a), ("b", b)):
        _check_tensor_dtype(matrix, name, torch.int8)
        if matrix.dim() != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(matrix.shape)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"a {tuple(a.shape)} and b {tuple(b.shape)} must have the same number of columns"
        )
    if method not in ("auto", "int_mm", "int32"):
        raise ValueError(f"method must be 'auto', 'int_mm' or 'int32', got {method!r}")
    if method == "int_mm" and not int_mm_supported(a, b):
        raise ValueError(
            f"torch._int_mm does not apply to shapes {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if method != "int32" and int_mm_supported(a, b):
        if a.device.type != "cpu":
            return torch._int_mm(a, b.t())
        b_t = _row_major(b).t() if b.shape[1] > 1 else _row_major(b.t())
        return torch._int_mm(_row_major(a), b_t)
    return a.to(torch.int32) @ b.to(torch.int32).t()


def _one_number(value: object, name: str, kind: str) -> float | int:
    """A Python number, or the value of a one-element tensor."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be one number ({kind}), got shape {tuple(value.shape)}")
        value = value.item()
    return value


def quantized_linear_W8A8_without_bias(
    q_x: torch.Tensor,
    s_x: float,
    z_x: int,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    *,
    method: MatmulMethod = "auto",
    w_row_sums: torch.Tensor | None = None,
) -> torch.Tensor:
    """A linear layer computed in integers: int8 activations and weights, int32 accumulation.

    Activations are asymmetric per tensor (``x ~ s_x (q_x - z_x)``), weights symmetric per
    tensor or per output channel (``W ~ s_w q_w``, ``s_w`` a float or shaped (out, 1)):

        y = s_x s_w (q_x - z_x) q_w^T = s_x s_w (q_x q_w^T - z_x sum_k q_w[:, k])

    The integer product ``q_x q_w^T`` is accumulated in int32 (``int8_matmul``), the
    zero-point correction ``z_x`` times the row sums of ``q_w`` is subtracted in int32, and the
    result is rescaled once, by ``s_x s_w``. Returns float32 of shape (..., out_features).
    ``w_row_sums``: the row sums of ``q_w`` (int32, shape (out_features,)), computed once by
    the caller for weights that do not change; computed here when omitted.
    """
    _check_tensor_dtype(q_x, "q_x (the quantized activations)", torch.int8)
    _check_tensor_dtype(q_w, "q_w (the quantized weights)", torch.int8)
    _check_linear_shapes(q_x, "q_x", q_w)
    if q_x.numel() == 0:
        raise ValueError(f"q_x is empty (shape {tuple(q_x.shape)})")
    s_x = _named(check_scale, _one_number(s_x, "s_x", "one activation scale"), "s_x")
    z_x = _named(check_zero_point, _one_number(z_x, "z_x", "one zero point"), "z_x")
    if not -128 <= z_x <= 127:
        raise ValueError(f"z_x must lie in the int8 range [-128, 127], got {z_x}")
    out_features = q_w.shape[0]
    s_w = _named(check_scale, s_w, "s_w")
    if isinstance(s_w, torch.Tensor):
        if s_w.numel() not in (1, out_features) or s_w.dim() > 2:
            raise ValueError(
                f"s_w must be a float or hold one scale per output channel, shaped "
                f"({out_features}, 1), got shape {tuple(s_w.shape)}"
            )
        s_w = s_w.to(torch.float32).reshape(1, -1)
    if w_row_sums is not None and (
        not isinstance(w_row_sums, torch.Tensor)
        or w_row_sums.dtype != torch.int32
        or w_row_sums.shape != (out_features,)
    ):
        raise ValueError(
            f"w_row_sums must be q_w.sum(dim=1, dtype=torch.int32), of shape ({out_features},)"
        )
    accumulator = int8_matmul(q_x.reshape(-1, q_x.shape[-1]), q_w, method)
    if z_x != 0:
        if w_row_sums is None:
            w_row_sums = q_w.sum(dim=1, dtype=torch.int32)
        accumulator -= z_x * w_row_sums
    output = accumulator.to(torch.float32).mul_(s_w * s_x)
    return output.reshape(*q_x.shape[:-1], out_features)


# --- checks of this lesson's arguments -----------------------------------------------------------


def _named(check: Callable, value: object, name: str):
    """``check(value)``, its TypeError or ValueError message starting with the argument's name."""
    try:
        return check(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: {error}") from None
