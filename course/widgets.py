"""The lessons' widgets: one ``explore_*`` builder per lesson, each an ``Explorer`` (see
``course.explorer``) whose numbers come from ``helper``'s functions, so that what a learner
sees is what the library computes. Lessons call them; nothing else imports this module.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch

import helper
from course.data import (
    Digits,
    accuracy,
    course_tensor,
    layer_weights,
    load_digits_data,
    seeded_normal,
    train_digits_mlp,
)
from course.explorer import (
    STYLE,
    Explorer,
    Matrix,
    View,
    bits_granularity_group_controls,
    buttons,
    check_matrix,
    dtype_name,
    error_readout,
    granularity_block,
    granularity_controls,
    granularity_sync,
    group_size_slider,
    int_slider,
    per_value,
    round_trip,
    round_trip_matrices,
    set_bounds,
)
from course.live_plots import (
    MONTAGE_DIGITS,
    ClipHistogram,
    DigitMontage,
    LevelCounts,
    LevelHistogram,
    NumberLine,
    OutputScatter,
    StorageBars,
    W8A8Errors,
)
from course.plots import as_matrix, format_number
from helper import Granularity, Mode

_EXPLORE_DTYPES = tuple(
    helper.integer_dtype(bits, signed) for bits in (8, 4, 3, 2) for signed in (True, False)
)


def explore_quantize_dequantize(
    tensor: torch.Tensor | None = None,
    scale: float = 3.5,
    zero_point: int = -70,
    dtype: torch.dtype = torch.int8,
) -> Explorer:
    """L2-A: pick a scale, a zero point and a dtype; see q, r' = s (q - z), the error and MSE.

    ``q = clamp(round(r / s + z), q_min, q_max)`` by ``linear_q_with_scale_and_zero_point``.
    Starts from the course's bad guess (s = 3.5, z = -70) on its 3x3 tensor: find better ones.
    """
    tensor = course_tensor() if tensor is None else helper._check_float_tensor(tensor)
    span = max(float(tensor.max()), 0.0) - min(float(tensor.min()), 0.0) or 1.0
    low, high = math.log10(span / 2550), math.log10(span * 4)
    controls = {
        "scale": widgets.FloatLogSlider(
            value=min(max(helper._check_scale(scale), 10**low), 10**high),
            base=10,
            min=low,
            max=high,
            step=0.002,
            description="scale s",
            continuous_update=True,
            readout_format=".4g",
            style=STYLE,
        ),
        "zero_point": int_slider(
            "zero point z",
            helper._check_zero_point(zero_point),
            *helper.q_range(helper._check_dtype(dtype)),
        ),
        "dtype": widgets.Dropdown(
            options=[(dtype_name(d), d) for d in _EXPLORE_DTYPES],
            value=helper._check_dtype(dtype),
            description="dtype",
            style=STYLE,
        ),
    }

    def sync(controls: dict) -> None:
        set_bounds(controls["zero_point"], *helper.q_range(controls["dtype"].value))

    def compute(scale: float, zero_point: int, dtype: torch.dtype) -> View:
        quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale, zero_point, dtype)
        dequantized = helper.linear_dequantization(quantized, scale, zero_point)
        errors = error_readout(tensor, dequantized)
        clipped = (tensor - dequantized).abs() > scale / 2 * (1 + 1e-6)
        q_min, q_max = helper.q_range(dtype)
        low, high = helper.representable_range(scale, zero_point, dtype)
        readout = {
            "dtype": dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "scale": scale,
            "zero_point": zero_point,
            "range_given_back": f"[{format_number(low)}, {format_number(high)}]",
            **errors,
            "clipped": int(clipped.sum()),
        }
        return View(readout, round_trip_matrices(tensor, quantized, dequantized, dtype))

    return Explorer(
        "Quantize with a scale and zero point you choose: can you get a lower MSE?",
        controls,
        compute,
        sync=sync,
    )


def _sample(tensor: torch.Tensor, n: int = 64) -> np.ndarray:
    """Indices of at most ``n`` evenly spread values of the flattened tensor."""
    return np.linspace(0, tensor.numel() - 1, min(n, tensor.numel())).round().astype(np.int64)


def explore_scale_and_zero_point(
    tensor: torch.Tensor | None = None, bits: int = 8, signed: bool = True
) -> Explorer:
    """L2-B: choose the dtype's bits (8 down to 2); see the derived scale and zero point,
    ``s = (r_max - r_min) / (q_max - q_min)``, ``z = round(q_min - r_min / s)``, the mapping of
    [r_min, r_max] onto [q_min, q_max] and the error (helper's ``linear_quantization``).
    """
    tensor = course_tensor() if tensor is None else helper._check_float_tensor(tensor)
    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "signed": buttons("dtype", [("signed int", True), ("unsigned uint", False)], signed),
    }
    sample = _sample(tensor)

    def compute(bits: int, signed: bool) -> View:
        dtype = helper.integer_dtype(bits, signed)
        quantized, scale, zero_point = helper.linear_quantization(tensor, dtype)
        dequantized = helper.linear_dequantization(quantized, scale, zero_point)
        q_min, q_max = helper.q_range(dtype)
        readout = {
            "dtype": dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "r_min": float(tensor.min()),
            "r_max": float(tensor.max()),
            "scale": scale,
            "zero_point": zero_point,
            **error_readout(tensor, dequantized),
        }
        plot = {
            **readout,
            "values": tensor.flatten()[sample].double().numpy(),
            "quantized": quantized.flatten()[sample].numpy(),
        }
        matrices = round_trip_matrices(tensor, quantized, dequantized, dtype)
        return View(readout, matrices, plot)

    return Explorer(
        "The scale and zero point that map [r_min, r_max] onto [q_min, q_max]",
        controls,
        compute,
        NumberLine,
    )


def _skew(tensor: torch.Tensor, skew: float) -> torch.Tensor:
    """``r + skew * |min(r_min, 0)|``: skew 0 is the data, skew 1 puts its minimum at 0."""
    return tensor - skew * min(float(tensor.min()), 0.0)


def explore_symmetric_vs_asymmetric(
    tensor: torch.Tensor | None = None, mode: Mode = "symmetric", bits: int = 4, skew: float = 1.0
) -> Explorer:
    """L3-A: symmetric (``s = max|r| / q_max``, z = 0) vs asymmetric mode, as the data is
    shifted towards positive values (``skew``, 1 = all >= 0 like a ReLU output).

    Counts the levels outside the data's range (``levels_used``) and the levels no value uses.
    """
    base = seeded_normal(0, 2000) if tensor is None else helper._check_float_tensor(tensor)
    controls = {
        "mode": buttons("mode", ["symmetric", "asymmetric"], mode),
        "bits": int_slider("bits", bits, 2, 8),
        "skew": widgets.FloatSlider(
            value=skew,
            min=0.0,
            max=1.0,
            step=0.05,
            description="skew towards positive",
            continuous_update=True,
            style=STYLE,
        ),
    }

    def compute(mode: Mode, bits: int, skew: float) -> View:
        data, dtype = _skew(base, skew), helper.integer_dtype(bits)
        block = helper.block_size_for(data.shape, "per-tensor")
        trips = {m: round_trip(data, block, dtype, m) for m in ("symmetric", "asymmetric")}
        quantized, scale, zero_point, dequantized = trips[mode]
        q_min, q_max = helper.q_range(dtype)
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        span, n_levels = helper.levels_used(quantized, dtype)
        readout = {
            "mode": mode,
            "dtype": dtype_name(dtype),
            "scale": float(scale.reshape(-1)[0]),
            "zero_point": int(zero_point.reshape(-1)[0]),
            "n_levels": n_levels,
            "levels_outside_range": n_levels - span,
            "unused_levels": n_levels - int(torch.unique(quantized).numel()),
            **error_readout(data, dequantized),
            **{f"mse_{m}": helper.quantization_error(data, trip[3]) for m, trip in trips.items()},
        }
        plot = {
            "values": data.flatten().double().numpy(),
            "level_values": helper.dequantize_blocks(
                levels, scale, zero_point, levels.shape
            ).numpy(),
            "used": torch.isin(levels, quantized).numpy(),
            "inside": ((levels >= quantized.min()) & (levels <= quantized.max())).numpy(),
            "title": f"{mode} mode, {dtype_name(dtype)}: {span} of {n_levels} levels inside "
            f"the data, {readout['unused_levels']} unused",
        }
        return View(readout, [], plot)

    return Explorer(
        "Symmetric or asymmetric? Levels wasted on one-sided data",
        controls,
        compute,
        LevelHistogram,
    )


def explore_granularity(
    tensor: torch.Tensor | None = None,
    granularity: str = "per-tensor",
    group_size: int | None = None,
    bits: int = 4,
    dim: int = 0,
) -> Explorer:
    """L3-B/C/D: symmetric quantization with one scale per tensor, per row or column, or per
    group of values; see the error heatmap, the MSE and the real storage per weight,
    ``bits + scale_bits / values_per_scale`` (helper's ``bits_per_weight``).

    ``granularity`` is a key of ``GRANULARITY_PANELS``, or "per-channel" with ``dim`` 0 or 1.
    """
    tensor = layer_weights(1, 16, 64) if tensor is None else check_matrix(tensor, "tensor")
    controls = granularity_controls(tensor.shape, granularity, group_size, bits, dim)
    controls["scale_bits"] = buttons("scales stored as", [("fp16", 16), ("fp32", 32)], 16)

    def compute(bits: int, granularity: str, group_size: int, scale_bits: int) -> View:
        dtype = helper.integer_dtype(bits)
        block = granularity_block(tensor.shape, granularity, group_size)
        quantized, scale, _, dequantized = round_trip(tensor, block, dtype, "symmetric")
        per_tensor = round_trip(tensor, tensor.shape, dtype, "symmetric")[3]
        readout = {
            "granularity": granularity,
            "dtype": dtype_name(dtype),
            "n_scales": scale.numel(),
            "values_per_scale": math.prod(block),
            "bits_per_weight": helper.bits_per_weight(bits, math.prod(block), scale_bits),
            **error_readout(tensor, dequantized),
            "mse_per_tensor": helper.quantization_error(tensor, per_tensor),
        }
        error_max = float((tensor - per_tensor).abs().max())
        matrices = round_trip_matrices(tensor, quantized, dequantized, dtype, block, error_max)
        return View(readout, [matrices[0], matrices[3]])

    return Explorer(
        "One scale per tensor, per channel or per group: error against storage",
        controls,
        compute,
        sync=granularity_sync,
    )


def explore_quantized_linear(
    weight: torch.Tensor | None = None,
    input: torch.Tensor | None = None,
    bits: int = 8,
    granularity: str = "per-channel rows",
    group_size: int | None = None,
) -> Explorer:
    """L3-E: ``y = x W'^T`` with ``W' = s (q - z)``, the weights quantized (symmetric) to
    ``bits`` with the chosen granularity (helper's ``quantized_linear_W8A32_without_bias``),
    against the fp32 layer ``y = x W^T``.
    """
    weight = layer_weights(2, 8, 32) if weight is None else check_matrix(weight, "weight")
    input = (
        seeded_normal(3, 4, weight.shape[1])
        if input is None
        else helper._check_float_tensor(input, "input")
    )
    if input.dim() == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"input of shape {tuple(input.shape)} must end with weight's {weight.shape[1]} columns"
        )
    weight, input = weight.float(), input.float()
    reference = torch.nn.functional.linear(input, weight)
    controls = granularity_controls(weight.shape, granularity, group_size, bits)

    def compute(bits: int, granularity: str, group_size: int) -> View:
        block = granularity_block(weight.shape, granularity, group_size)
        q, scale, zero_point, dequantized = round_trip(
            weight, block, helper.integer_dtype(bits), "symmetric"
        )
        output = helper.quantized_linear_W8A32_without_bias(
            input, q, per_value(scale, block, q.shape), per_value(zero_point, block, q.shape)
        )
        readout = {
            "granularity": granularity,
            "dtype": dtype_name(helper.integer_dtype(bits)),
            **error_readout(reference, output),
            "relative_error": float(
                (output - reference).norm() / reference.norm().clamp_min(helper.ZERO_RANGE_SCALE)
            ),
            "weight_mse": helper.quantization_error(weight, dequantized),
        }
        y, y_q = as_matrix(reference), as_matrix(output)
        error = np.abs(y - y_q)
        low, high = min(y.min(), y_q.min()), max(y.max(), y_q.max())
        matrices = [
            Matrix("fp32 output y = x W\u1d40", y, low, high, ".2f"),
            Matrix("output with quantized W, y'", y_q, low, high, ".2f"),
            Matrix(
                "error |y \N{MINUS SIGN} y'|", error, 0.0, max(error.max(), 1e-12), ".3f", "cividis"
            ),
        ]
        plot = {
            "reference": y.ravel(),
            "quantized": y_q.ravel(),
            "title": f"W{bits}A32 ({granularity}): relative error {readout['relative_error']:.2%}",
        }
        return View(readout, matrices, plot)

    return Explorer(
        "A linear layer with quantized weights against the fp32 layer",
        controls,
        compute,
        OutputScatter,
        sync=granularity_sync,
    )


def explore_w8a8(
    input: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bits: int = 8,
    outlier: float = 1.0,
) -> Explorer:
    """L4 W8A8: activations quantized asymmetric per tensor to ``bits`` (held in int8), weights
    symmetric per channel in int8, the layer computed in integers
    (``quantized_linear_W8A8_without_bias``), against W8A32 and fp32. ``outlier`` sets one
    activation to ``outlier`` times the largest of the others: a single large value stretches
    the one activation scale ``s_x`` that every value shares.
    """
    weight = seeded_normal(41, 16, 64) * 0.1 if weight is None else weight
    weight = helper._check_float_tensor(weight, "weight").float()
    if input is None:
        input = seeded_normal(40, 8, weight.shape[1]).relu_() + 0.1
    input = helper._check_float_tensor(input, "input").float()
    if weight.dim() != 2 or input.dim() != 2 or input.shape[1] != weight.shape[1]:
        raise ValueError(
            f"input (batch, k) and weight (out, k) must share k, got {tuple(input.shape)} and "
            f"{tuple(weight.shape)}"
        )
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    controls = {
        "bits": int_slider("activation bits", bits, 2, 8),
        "outlier": widgets.FloatLogSlider(
            value=outlier,
            base=10,
            min=0,
            max=2,
            step=0.02,
            description="one activation \u00d7",
            continuous_update=True,
            readout_format=".3g",
            style=STYLE,
        ),
    }

    def compute(bits: int, outlier: float) -> View:
        x = input.clone()
        x[0, 0] = outlier * float(input.abs().max())
        fp32 = torch.nn.functional.linear(x, weight)
        q_x, s_x, z_x = helper.linear_quantization(x, helper.integer_dtype(bits))
        w8a8 = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
        w8a32 = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
        readout = {
            "activations": f"int{bits}",
            "activation_scale": s_x,
            "activation_zero_point": z_x,
            "mse": helper.quantization_error(fp32, w8a8),
            "mse_of_W8A32": helper.quantization_error(fp32, w8a32),
            "relative_error": float((w8a8 - fp32).norm() / fp32.norm()),
            "activation_levels_used": int(torch.unique(q_x).numel()),
        }
        error = as_matrix((w8a8 - fp32).abs())
        top = max(error.max(), 1e-12)
        matrices = [Matrix("W8A8 error |y \N{MINUS SIGN} y'|", error, 0.0, top, ".3g", "cividis")]
        plot = {
            "fp32": fp32.flatten().numpy(),
            "w8a8": w8a8.flatten().numpy(),
            "w8a32": w8a32.flatten().numpy(),
            "title": f"W8A8 ({bits}-bit activations): relative error "
            f"{readout['relative_error']:.2%}",
        }
        return View(readout, matrices, plot)

    return Explorer(
        "A linear layer in integers (W8A8) against W8A32 and fp32", controls, compute, W8A8Errors
    )


def explore_storage(
    weight: torch.Tensor | None = None, bits: int = 4, group_size: int = 32, scale_bits: int = 16
) -> Explorer:
    """L4 packing: symmetric per-group quantization of ``weight``, the values packed with
    ``pack_weights`` (2 and 4 bits; 3 and 8 bits stay in int8) and the scales in fp16 or fp32.
    The bytes are measured on the real tensors (``tensor_bytes``); ``ideal_bits`` is
    ``bits_per_weight``, which assumes every value takes exactly ``bits`` bits."""
    if weight is None:  # rows of different sizes, as in a trained layer
        weight = layer_weights(4, 64, 256, log10_sizes=(-1.3, 0.3), outliers=False)
    weight = check_matrix(weight, "weight")
    sizes = [d for d in (8, 16, 32, 64, 128, 256, 512, 1024) if weight.shape[1] % d == 0]
    helper._check_int(group_size, "group_size", sizes, f"one of {sizes}")
    controls = {
        "bits": buttons("bits", [2, 3, 4, 8], bits),
        "group_size": group_size_slider(sizes, group_size),
        "scale_bits": buttons("scales stored as", [("fp16", 16), ("fp32", 32)], scale_bits),
    }
    fp32_bytes = helper.tensor_bytes(weight.float())

    def compute(bits: int, group_size: int, scale_bits: int) -> View:
        scale_dtype = torch.float16 if scale_bits == 16 else torch.float32
        q, scale = helper.quantize_weight_symmetric(
            weight, bits, "per-group", group_size, scale_dtype
        )
        stored = helper.pack_weights(q, bits) if bits in helper.PACKABLE_BITS else q
        block = helper.block_size_for(weight.shape, "per-group", group_size=group_size)
        dequantized = helper.dequantize_blocks(q, scale.float(), 0, block)
        weight_bytes, scale_bytes = helper.tensor_bytes(stored), helper.tensor_bytes(scale)
        measured = 8 * (weight_bytes + scale_bytes) / weight.numel()
        readout = {
            "weights_in": "packed uint8" if bits in helper.PACKABLE_BITS else "int8",
            "scales_in": str(scale_dtype).removeprefix("torch."),
            "weight_bytes": weight_bytes,
            "scale_bytes": scale_bytes,
            "bits_per_weight": measured,
            "ideal_bits": helper.bits_per_weight(bits, group_size, scale_bits),
            "compression": fp32_bytes / (weight_bytes + scale_bytes),
            "mse": helper.quantization_error(weight, dequantized),
        }
        plot = {
            "weight_bytes": (fp32_bytes, weight_bytes),
            "scale_bytes": (0, scale_bytes),
            "fp32_bytes": fp32_bytes,
            "title": f"{bits}-bit, group {group_size}: {measured:.4g} bits per weight, "
            f"{readout['compression']:.3g}\u00d7 smaller than fp32",
        }
        return View(readout, [], plot)

    return Explorer(
        "What a quantized weight really costs: packed values plus scales",
        controls,
        compute,
        StorageBars,
    )


def explore_trained_network(
    model: torch.nn.Module | None = None,
    data: Digits | None = None,
    bits: int = 4,
    granularity: Granularity = "per-channel",
    group_size: int = 32,
) -> Explorer:
    """L4: the digits MLP with every ``nn.Linear`` quantized (``quantize_model``) to ``bits``,
    per tensor, per channel or per group; its test accuracy, its real bytes
    (``model_bytes``) and the test digits it now gets wrong. Quantized models are cached per
    setting, so moving back to a setting is instant. ``model=None`` trains
    ``train_digits_mlp()``; ``mse`` is the weights' mean squared error over all layers."""
    if model is None:
        model, data = train_digits_mlp() if data is None else (train_digits_mlp()[0], data)
    data = load_digits_data() if data is None else data
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    widths = [m.in_features for m in linears]
    sizes = [d for d in (4, 8, 16, 32, 64, 128) if all(w % d == 0 for w in widths)]
    helper._check_int(group_size, "group_size", sizes, f"one of {sizes}")
    weights = torch.cat([m.weight.detach().flatten() for m in linears])
    fp32_accuracy, fp32_bytes = accuracy(model, data.x_test, data.y_test), helper.model_bytes(model)
    cache: dict[tuple, tuple] = {}

    def evaluate(bits: int, granularity: str, group_size: int | None) -> tuple:
        key = (bits, granularity, group_size)
        if key not in cache:
            quantized = helper.quantize_model(model, bits, granularity, group_size)
            with torch.no_grad():
                predicted = quantized(data.x_test).argmax(dim=-1)
            layers = [m for m in quantized.modules() if isinstance(m, helper.QuantizedLinear)]
            restored = torch.cat([m.dequantized_weight().flatten() for m in layers])
            cache[key] = (quantized, predicted, helper.quantization_error(weights, restored))
        return cache[key]

    controls = bits_granularity_group_controls(
        bits, ["per-tensor", "per-channel", "per-group"], granularity, sizes, group_size
    )

    def compute(bits: int, granularity: str, group_size: int) -> View:
        group = group_size if granularity == "per-group" else None
        quantized, predicted, mse = evaluate(bits, granularity, group)
        wrong = torch.nonzero(predicted != data.y_test).flatten()
        readout = {
            "accuracy": float((predicted == data.y_test).float().mean()),
            "fp32_accuracy": fp32_accuracy,
            "misclassified": int(wrong.numel()),
            "model_bytes": helper.model_bytes(quantized),
            "fp32_bytes": fp32_bytes,
            "mse": mse,
        }
        shown = wrong[:MONTAGE_DIGITS]
        plot = {
            "images": data.x_test[shown],
            "true": data.y_test[shown].tolist(),
            "predicted": predicted[shown].tolist(),
            "title": f"{bits}-bit {granularity}{f' (group {group})' if group else ''}: "
            f"{wrong.numel()} of {len(data.y_test)} test digits wrong"
            f"{f' (first {MONTAGE_DIGITS} shown)' if wrong.numel() > MONTAGE_DIGITS else ''}",
        }
        return View(readout, [], plot)

    return Explorer(
        "The digits MLP, quantized: accuracy, bytes and the digits it gets wrong",
        controls,
        compute,
        DigitMontage,
        sync=granularity_sync,
    )


# L5-B: the same quantization in torchao ---------------------------------------------------


def explore_torchao_convention(
    weight: torch.Tensor | None = None, bits: int = 4, granularity: str = "groups of 32"
) -> Explorer:
    """L5-B: one weight matrix quantized symmetric with ``bits`` bits, per row or in groups of
    32, by helper (``s = max|w| / q_max``, ``q = round(w / s)``) and by torchao
    (``IntxWeightOnlyConfig``: ``s = max|w| / ((q_max - q_min) / 2)``, ``q = round(w * (1 / s))``):
    how many integers agree, how the levels are used, and each one's error. Each setting is
    quantized once, by torchao itself, and cached."""
    from course import torchao_bridge as ao  # torchao, without its known import warnings

    weight = layer_weights(5, 64, 128) if weight is None else check_matrix(weight, "weight")
    weight = weight.detach().float()
    granularities = {"per row": (ao.PerAxis(0), (1, weight.shape[1])), "groups of 32": None}
    if weight.shape[1] % 32 == 0:
        granularities["groups of 32"] = (ao.PerGroup(32), (1, 32))
    granularities = {name: value for name, value in granularities.items() if value is not None}
    helper._check_int(bits, "bits", range(2, 9), "an int from 2 to 8")
    if granularity not in granularities:
        raise ValueError(f"granularity must be one of {list(granularities)}, got {granularity!r}")
    linear = ao.linear_holding(weight)
    cache: dict[tuple, tuple] = {}

    def quantized(bits: int, name: str) -> tuple:
        if (bits, name) not in cache:
            torchao_granularity, block = granularities[name]
            dtype = helper.integer_dtype(bits)
            config = ao.IntxWeightOnlyConfig(weight_dtype=dtype, granularity=torchao_granularity)
            stored = ao.stored_tensors(ao.quantized_copy(linear, config).weight)
            q_h, s_h, _, restored_h = round_trip(weight, block, dtype, "symmetric")
            restored_t = helper.dequantize_blocks(
                stored["qdata"], stored["scale"], stored["zero_point"], block
            )
            cache[bits, name] = (q_h, s_h, restored_h, stored, restored_t)
        return cache[bits, name]

    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "granularity": buttons("scales", list(granularities), granularity),
    }

    def compute(bits: int, granularity: str) -> View:
        q_h, s_h, restored_h, stored, restored_t = quantized(bits, granularity)
        q_t = stored["qdata"]
        q_min, q_max = helper.q_range(helper.integer_dtype(bits))
        levels = torch.arange(q_min, q_max + 2)
        equal = float((q_h == q_t).float().mean())
        readout = {
            "integers_equal": f"{equal:.1%}",
            "torchao_step_over_helper": float((stored["scale"].reshape(-1) / s_h.reshape(-1))[0]),
            "values_on_q_min_helper": int((q_h == q_min).sum()),
            "values_on_q_min_torchao": int((q_t == q_min).sum()),
            "mse": helper.quantization_error(weight, restored_h),
            "mse_torchao": helper.quantization_error(weight, restored_t),
        }
        plot = {
            "q_min": q_min,
            "q_max": q_max,
            "helper_counts": torch.histogram(q_h.float(), levels.float() - 0.5)[0].numpy(),
            "torchao_counts": torch.histogram(q_t.float(), levels.float() - 0.5)[0].numpy(),
            "title": f"{bits}-bit, {granularity}: {equal:.1%} of the integers agree",
        }
        return View(readout, [], plot)

    return Explorer(
        "helper against torchao: the same symmetric quantization, two conventions",
        controls,
        compute,
        LevelCounts,
    )


def explore_clipping(bits: int = 4, clip_ratio: float = 1.0, outlier_strength: int = 8) -> Explorer:
    """L5-A: 4096 standard normal values, one in 256 made ``outlier_strength`` times larger,
    quantized symmetric per tensor with the range clipped to ``[-alpha, alpha]``, ``alpha = c
    max|r|``: the histogram with the levels and the clip lines, the rounding and clipping parts
    of the MSE, the SQNR, and the best ``c`` of ``helper.search_clip_ratio``."""
    helper._check_int(bits, "bits", range(2, 9), "an int from 2 to 8")
    searches: dict[tuple, tuple] = {}
    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "clip_ratio": widgets.FloatSlider(
            value=clip_ratio,
            min=0.05,
            max=1.0,
            step=0.01,
            description="clip ratio c",
            continuous_update=True,
            style=STYLE,
        ),
        "outlier_strength": int_slider("outlier strength", outlier_strength, 1, 16),
    }

    def compute(bits: int, clip_ratio: float, outlier_strength: int) -> View:
        data = layer_weights(0, 1, 4096, (0.0, 0.0), outlier_factor=outlier_strength).flatten()
        dtype = helper.integer_dtype(bits)
        q_min, q_max = helper.q_range(dtype)
        alpha = clip_ratio * float(data.abs().max())
        scale = alpha / q_max
        quantized = helper.linear_q_with_scale_and_zero_point(data, scale, 0, dtype)
        restored = helper.linear_dequantization(quantized, scale, 0)
        rounding, clipping = helper.rounding_and_clipping_error(data, scale, 0, dtype)
        if (bits, outlier_strength) not in searches:
            best, _ = helper.search_clip_ratio(data, data.shape, dtype)
            best_scale = float(best) * float(data.abs().max()) / q_max
            best_q = helper.linear_q_with_scale_and_zero_point(data, best_scale, 0, dtype)
            best_sqnr = helper.sqnr_db(data, helper.linear_dequantization(best_q, best_scale, 0))
            searches[bits, outlier_strength] = (float(best), best_sqnr)
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        readout = {
            "clip_ratio": f"{clip_ratio:.2f}",
            "alpha": alpha,
            "scale": scale,
            "values_clipped": int((data.abs() > alpha).sum()),
            "rounding_mse": rounding,
            "clipping_mse": clipping,
            "mse": rounding + clipping,
            "sqnr_db": f"{helper.sqnr_db(data, restored):.1f}",
            "best_clip_ratio": f"{searches[bits, outlier_strength][0]:.2f}",
            "sqnr_db_at_best": f"{searches[bits, outlier_strength][1]:.1f}",
        }
        plot = {
            "values": data.double().numpy(),
            "level_values": (scale * levels.double()).numpy(),
            "used": torch.isin(levels, quantized).numpy(),
            "inside": np.ones(levels.numel(), dtype=bool),
            "alpha": alpha,
            "title": f"{bits} bits, clipped at \N{PLUS-MINUS SIGN}{alpha:.3g}: "
            f"SQNR {readout['sqnr_db']} dB (best c = {readout['best_clip_ratio']})",
        }
        return View(readout, [], plot)

    return Explorer(
        "Clipping the range: rounding against clipping error", controls, compute, ClipHistogram
    )
