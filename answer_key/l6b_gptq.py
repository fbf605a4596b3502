"""L6-B: GPTQ (Frantar et al., 2023), rounding that corrects its own errors on a layer's outputs.

H = 2 X^T X / n,   objective = 1/2 tr(dW H dW^T)
"""

from __future__ import annotations

import math

import torch

from answer_key.basics import (
    Granularity,
    check_bits,
    check_float_tensor,
    check_positive_int,
    integer_dtype,
    q_range,
    storage_dtype,
)
from answer_key.l3_linear_II import block_size_for, quantize_blocks
from answer_key.l4b_packing import PACKABLE_BITS, pack_weights
from answer_key.l4c_quantize_a_network import QuantizedLinear, convert_linears

# --- L6-B: GPTQ, rounding that corrects its own errors on the layer's outputs --------------------


def hessian_from_inputs(x: torch.Tensor) -> torch.Tensor:
    """The Hessian of a linear layer's squared output error in its weights, from its inputs:

        H = 2 XᵀX / n        X: the n input vectors as rows, (n, in_features)

    ``x`` is shaped ``(..., in_features)`` (every leading axis counts as samples). For a change
    ``ΔW`` of the weights, the mean over the inputs of the squared output error is
    ``(1 / n) Σ ‖ΔW x‖² = ½ tr(ΔW H ΔWᵀ)`` (``layer_objective``). Computed in float64, whatever
    the inputs' type: a sum of thousands of float32 products comes out in the last bits as the
    CPU orders it, and GPTQ's rounding, a chain of decisions, would pass such a difference on.
    ``(in_features, in_features)``, symmetric, positive semi-definite.
    """
    x = check_float_tensor(x, "x")
    rows = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
    hessian = (rows.T @ rows).mul_(2 / rows.shape[0])
    if not math.isfinite(hessian.diagonal().sum().item()):  # NaN and inf reach the diagonal
        raise ValueError("x contains NaN or infinite values")
    return hessian


def layer_objective(
    weight: torch.Tensor, dequantized: torch.Tensor, hessian: torch.Tensor
) -> float:
    """GPTQ's objective for one layer: ``½ tr(ΔW H ΔWᵀ)``, ``ΔW = W - W'``, in float64.
    With ``H = hessian_from_inputs(X)`` it is the mean over the inputs ``x`` of
    ``‖W x - W' x‖²``, the squared error of the layer's outputs (summed over its outputs)."""
    delta = weight.detach().double() - dequantized.detach().double()
    return float(0.5 * ((delta @ hessian.detach().double()) * delta).sum())


def _inverse_hessian_factor(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """``U``, upper triangular with ``UᵀU = (H + λ I)⁻¹``, ``λ = damp × mean(diag H)``."""
    damped = hessian.clone()
    damped.diagonal().add_(damp * float(damped.diagonal().mean()))
    factor, info = torch.linalg.cholesky_ex(damped)
    if int(info):
        raise ValueError("hessian + damp is not positive definite: is it 2 XᵀX / n? raise damp")
    return torch.linalg.cholesky(torch.cholesky_inverse(factor), upper=True)


def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    bits: int = 4,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    block_size: int = 128,
    damp: float = 0.01,
    scale_dtype: torch.dtype = torch.float16,
    grid: str = "course",
) -> tuple[torch.Tensor, torch.Tensor]:
    """GPTQ (Frantar et al., 2023): ``(q, scale)`` as ``quantize_weight_symmetric`` returns them,
    chosen to make the layer's output error ``½ tr(ΔW H ΔWᵀ)`` small, not the weights' error.

    The columns (inputs) are quantized one at a time, left to right. Column ``j`` is rounded to
    its grid, ``q_j = clamp(round(w_j / s))``, and its error, weighted by the inverse Hessian,
    is pushed onto the columns not yet quantized, which absorb it:

        e = (w_j - s q_j) / U_jj,        w_k  <-  w_k - e U_jk   for every k > j

    where ``U`` is the upper Cholesky factor of ``(H + λ I)⁻¹``, ``λ = damp × mean(diag H)``:
    ``U_jj U_j,j:`` is row ``j`` of the inverse Hessian with the columns ``< j`` removed (the
    Optimal Brain Surgeon update), so one factorisation serves every step. Updates are applied lazily, a block of
    ``block_size`` columns at a time (``W_rest -= E U_block,rest``); a block also ends where a
    group begins, so that every ``block_size`` gives the result of ``block_size=1``.

    Scales, symmetric, rounded to ``scale_dtype``: ``grid="course"``, ``s = max|w| / q_max``
    (the levels ``-q_max .. q_max`` reach ``max|w|``); ``grid="reference"``, the grid of the
    authors' code, ``s = max|w| / (q_max + ½)`` (all ``2^b`` levels ``-q_max - 1 .. q_max``
    used, a finer step, the largest weight clamped by half a step). Per channel (or per
    tensor), from the whole rows before the first column; per group, from the group's weights
    as every earlier column has updated them, when its first column is reached. Inputs that
    are always 0 (``H_jj = 0``) get weight 0. With ``H = I`` nothing is pushed: round-to-nearest.
    """
    bits = check_bits(bits)
    weight = check_float_tensor(weight, "weight")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got {weight.dim()}-D")
    hessian = _check_hessian(hessian, weight.shape[1])
    block_size = check_positive_int(block_size, "block_size")
    if isinstance(damp, bool) or not isinstance(damp, (int, float)) or not damp > 0:
        raise ValueError(f"damp must be a number > 0 (a fraction of mean(diag H)), got {damp!r}")
    if grid not in ("course", "reference"):
        raise ValueError(f"grid must be 'course' or 'reference', got {grid!r}")
    block = block_size_for(weight.shape, granularity, dim=0, group_size=group_size)
    rows, columns = weight.shape
    # Held transposed, (columns, rows): column j of W is the contiguous row work[j].
    work = weight.detach().T.to(torch.float64, copy=True).contiguous()
    dead = hessian.diagonal() == 0
    hessian[dead, dead] = 1
    work[dead] = 0
    factor = _inverse_hessian_factor(hessian, float(damp))

    dtype, width = integer_dtype(bits), block[1]  # width: the columns that share a scale
    q_min, q_max = q_range(dtype)
    q = torch.empty((columns, rows), dtype=torch.float64, device=weight.device)
    scale = torch.empty((rows // block[0], columns // width), dtype=scale_dtype)
    pivots = factor.diagonal().tolist()  # U_jj
    starts = sorted({*range(0, columns, block_size), *range(0, columns, width)})
    for start, stop in zip(starts, [*starts[1:], columns]):
        if start % width == 0:  # a new scale: from the weights as updated so far
            part = work[start : start + width].T.float()
            reach = None  # course: s = max|w| / q_max; reference: the range that gives
            if grid == "reference":  # s = max|w| / (q_max + 1/2) under the course's rule
                top = part.abs().reshape(-1, block[0], width).amax(dim=(1, 2))
                reach = (-top * (q_max / (q_max + 0.5)), top * (q_max / (q_max + 0.5)))
            _, group_scale, _ = quantize_blocks(
                part, (block[0], width), dtype, "symmetric", scale_dtype, reach
            )
            scale[:, start // width] = group_scale.reshape(-1)
            row_scale = scale[:, start // width].double().repeat_interleave(block[0])
        errors = torch.empty((stop - start, rows), dtype=torch.float64, device=weight.device)
        for j in range(start, stop):
            torch.div(work[j], row_scale, out=q[j]).round_().clamp_(q_min, q_max)
            error = errors[j - start]
            torch.addcmul(work[j], row_scale, q[j], value=-1, out=error).div_(pivots[j])
            work[j + 1 : stop].addr_(factor[j, j + 1 : stop], error, alpha=-1)
        work[stop:].addmm_(factor[start:stop, stop:].T, errors, alpha=-1)
    return q.T.to(storage_dtype(dtype)).contiguous(), scale


def gptq_quantize_model(
    model: torch.nn.Module,
    calibration: torch.Tensor,
    bits: int,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    block_size: int = 128,
    damp: float = 0.01,
    grid: str = "course",
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` a ``QuantizedLinear`` holding GPTQ's weights.

    One forward pass over ``calibration`` (a batch the model's forward takes, such as byte
    windows ``(n, time)``), on a copy whose linear layers are stand-ins: each, when the pass
    reaches it, gets its Hessian ``H = 2 XᵀX / n`` from the inputs it receives, is quantized by
    ``gptq_quantize``, and hands the quantized layer's outputs on. So the layers are quantized
    in the order they run, each on the inputs that the already-quantized earlier layers
    produce. The pass runs in float64, so every ``H`` is the same bits on every CPU and for any
    number of threads, and so are GPTQ's integers (``grid``: as ``gptq_quantize``'s). The model
    itself is unchanged;
    ``convert_linears`` makes both copies.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    options = (bits, granularity, group_size, block_size, damp, torch.float16, grid)
    working = convert_linears(model, lambda _, linear: _QuantizeOnFirstCall(linear, options))
    working.double()
    with torch.no_grad():
        working(calibration)
    stand_ins = {n: m for n, m in working.named_modules() if isinstance(m, _QuantizeOnFirstCall)}
    missing = [name for name, stand_in in stand_ins.items() if stand_in.quantized is None]
    if missing:
        raise ValueError(f"the calibration pass never reached the linear layers {missing}")
    return convert_linears(model, lambda name, _: stand_ins[name].quantized)


class _QuantizeOnFirstCall(torch.nn.Module):
    """A linear layer's stand-in during ``gptq_quantize_model``'s calibration pass: on its first
    call, GPTQ quantizes the layer on the inputs it receives; every call returns the quantized
    layer's outputs."""

    def __init__(self, linear: torch.nn.Linear, options: tuple) -> None:
        super().__init__()
        self.linear, self.options, self.quantized = linear, options, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized is None:
            bits, granularity, group_size, *_ = self.options
            layer = QuantizedLinear.from_linear(self.linear, bits, granularity, group_size)
            q, layer.scale = gptq_quantize(
                self.linear.weight, hessian_from_inputs(x), *self.options
            )
            layer.weight_q = pack_weights(q, bits) if bits in PACKABLE_BITS else q
            self.quantized = layer
        return self.quantized(x)


# --- checks of this lesson's arguments -----------------------------------------------------------


def _check_hessian(hessian: object, in_features: int) -> torch.Tensor:
    """``hessian`` as a float64 copy if it is a finite, symmetric (in_features, in_features)
    float tensor (L6-B); else a TypeError or ValueError naming ``hessian``."""
    hessian = check_float_tensor(hessian, "hessian")
    if tuple(hessian.shape) != (in_features, in_features):
        raise ValueError(
            f"hessian must be (in_features, in_features) = ({in_features}, {in_features}) for "
            f"this weight, got shape {tuple(hessian.shape)}"
        )
    hessian = hessian.detach().to(torch.float64, copy=True)
    if not bool(torch.isfinite(hessian).all()):
        raise ValueError("hessian contains NaN or infinite values")
    if float((hessian - hessian.T).abs().max()) > 1e-6 * float(hessian.abs().max()):
        raise ValueError("hessian must be symmetric (H = 2 XᵀX / n is): H != Hᵀ")
    return hessian
