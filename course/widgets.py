"""The lessons' widgets of single tensors: one ``explore_*`` builder per lesson, each an
``Explorer`` (see ``course.explorer``) whose numbers come from ``helper``'s functions, so that
what a learner sees is what the library computes. (The widgets of layers and models are in
``course.model_widgets``.) Lessons call them; nothing else imports this module.
"""

from __future__ import annotations

import functools
import itertools
import math

import ipywidgets as widgets
import numpy as np
import torch

import helper
from course.data import (
    course_tensor,
    heavy_tailed,
    layer_weights,
    seeded_normal,
)
from course.explorer import STYLE, Explorer, View, buttons, float_slider, int_slider, set_bounds
from course.live_plots import (
    ClipHistogram,
    ClipHistogramData,
    FormatLevels,
    FormatLevelsData,
    LevelCounts,
    LevelCountsData,
    LevelHistogram,
    LevelHistogramData,
    NumberLine,
    NumberLineData,
)
from course.plots import format_number
from course.widget_parts import (
    ERROR_LABELS,
    check_matrix,
    error_readout,
    granularity_block,
    granularity_controls,
    granularity_sync,
    round_trip,
    round_trip_matrices,
)
from helper import Mode

# The labels of a quantizer's numbers, as the widgets of single tensors show them.
QUANTIZER_LABELS = {
    "scale": "scale s",
    "zero_point": "zero point z",
    "q_min": "q_min",
    "q_max": "q_max",
    "r_min": "r_min",
    "r_max": "r_max",
    **ERROR_LABELS,
}

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
    tensor = course_tensor() if tensor is None else helper.check_float_tensor(tensor)
    span = max(float(tensor.max()), 0.0) - min(float(tensor.min()), 0.0) or 1.0
    low, high = math.log10(span / 2550), math.log10(span * 4)
    controls = {
        "scale": widgets.FloatLogSlider(
            value=min(max(helper.check_scale(scale), 10**low), 10**high),
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
            helper.check_zero_point(zero_point),
            *helper.q_range(helper.check_dtype(dtype)),
        ),
        "dtype": widgets.Dropdown(
            options=[(helper.dtype_name(d), d) for d in _EXPLORE_DTYPES],
            value=helper.check_dtype(dtype),
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
        q_min, q_max = helper.q_range(dtype)
        low, high = helper.representable_range(scale, zero_point, dtype)
        readout = {
            "dtype": helper.dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "scale": scale,
            "zero_point": zero_point,
            "range_given_back": f"[{format_number(low)}, {format_number(high)}]",
            **errors,
            "clipped": int(helper.clipped(tensor, scale, zero_point, dtype).sum()),
        }
        return View(readout, round_trip_matrices(tensor, quantized, dequantized, dtype))

    labels = {
        **QUANTIZER_LABELS,
        "clipped": "values clamped",
        "range_given_back": "s (q \N{MINUS SIGN} z) spans",
    }
    return Explorer(
        "Quantize with a scale and zero point you choose: can you get a lower MSE?",
        controls,
        compute,
        sync=sync,
        labels=labels,
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
    tensor = course_tensor() if tensor is None else helper.check_float_tensor(tensor)
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
            "dtype": helper.dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "r_min": float(tensor.min()),
            "r_max": float(tensor.max()),
            "scale": scale,
            "zero_point": zero_point,
            **error_readout(tensor, dequantized),
        }
        plot = NumberLineData(
            values=tensor.flatten()[sample].double().numpy(),
            quantized=quantized.flatten()[sample].numpy(),
            scale=scale,
            zero_point=zero_point,
            q_min=q_min,
            q_max=q_max,
            r_min=readout["r_min"],
            r_max=readout["r_max"],
        )
        matrices = round_trip_matrices(tensor, quantized, dequantized, dtype)
        return View(readout, matrices, plot)

    explorer = Explorer(
        "The scale and zero point that map [r_min, r_max] onto [q_min, q_max]",
        controls,
        compute,
        NumberLine,
        labels=QUANTIZER_LABELS,
    )
    explorer.remember_every_setting()  # 14: each new width redraws both axes, so do it now
    return explorer


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
    base = seeded_normal(0, 2000) if tensor is None else helper.check_float_tensor(tensor)
    controls = {
        "mode": buttons("mode", ["symmetric", "asymmetric"], mode),
        "bits": int_slider("bits", bits, 2, 8),
        "skew": float_slider("skew towards positive", skew, 0.0, 1.0, 0.05),
    }

    def compute(mode: Mode, bits: int, skew: float) -> View:
        data, dtype = _skew(base, skew), helper.integer_dtype(bits)
        block = helper.block_size_for(data.shape, "per-tensor")
        trips = {m: round_trip(data, block, dtype, m) for m in ("symmetric", "asymmetric")}
        trip = trips[mode]
        quantized, scale, zero_point = trip.quantized, trip.scale, trip.zero_point
        q_min, q_max = helper.q_range(dtype)
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        span, n_levels = helper.levels_used(quantized, dtype)
        readout = {
            "mode": mode,
            "dtype": helper.dtype_name(dtype),
            "scale": float(scale.reshape(-1)[0]),
            "zero_point": int(zero_point.reshape(-1)[0]),
            "n_levels": n_levels,
            "levels_outside_range": n_levels - span,
            "unused_levels": n_levels - int(torch.unique(quantized).numel()),
            **error_readout(data, trip.dequantized),
            **{
                f"mse_{m}": helper.quantization_error(data, t.dequantized) for m, t in trips.items()
            },
        }
        plot = LevelHistogramData(
            values=data.flatten().double().numpy(),
            level_values=helper.dequantize_blocks(levels, scale, zero_point, levels.shape).numpy(),
            used=torch.isin(levels, quantized).numpy(),
            inside=((levels >= quantized.min()) & (levels <= quantized.max())).numpy(),
            title=f"{mode} mode, {helper.dtype_name(dtype)}: {span} of {n_levels} levels inside "
            f"the data, {readout['unused_levels']} unused",
        )
        return View(readout, [], plot)

    return Explorer(
        "Symmetric or asymmetric? Levels wasted on one-sided data",
        controls,
        compute,
        LevelHistogram,
        labels={
            **QUANTIZER_LABELS,
            "n_levels": "levels of the dtype",
            "levels_outside_range": "levels outside the data",
            "unused_levels": "levels no value uses",
            "mse_symmetric": "MSE symmetric",
            "mse_asymmetric": "MSE asymmetric",
        },
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
        trip = round_trip(tensor, block, dtype, "symmetric")
        per_tensor = helper.fake_quantize_blocks(tensor, tensor.shape, dtype, "symmetric")
        readout = {
            "granularity": granularity,
            "dtype": helper.dtype_name(dtype),
            "n_scales": trip.scale.numel(),
            "values_per_scale": math.prod(block),
            "bits_per_weight": helper.bits_per_weight(bits, math.prod(block), scale_bits),
            **error_readout(tensor, trip.dequantized),
            "mse_per_tensor": helper.quantization_error(tensor, per_tensor),
        }
        error_max = float((tensor - per_tensor).abs().max())
        matrices = round_trip_matrices(
            tensor, trip.quantized, trip.dequantized, dtype, block, error_max
        )
        return View(readout, [matrices[0], matrices[3]])

    return Explorer(
        "One scale per tensor, per channel or per group: error against storage",
        controls,
        compute,
        sync=granularity_sync,
        labels={
            **ERROR_LABELS,
            "n_scales": "scales stored",
            "values_per_scale": "values per scale",
            "bits_per_weight": "bits per weight",
            "mse_per_tensor": "MSE if per-tensor",
        },
    )


# L5-B: the same quantization in torchao ---------------------------------------------------


def explore_torchao_convention(
    weight: torch.Tensor | None = None, bits: int = 4, granularity: str = "groups of 32"
) -> Explorer:
    """L5-B: one weight matrix quantized symmetric with ``bits`` bits, per row or in groups of
    32, by helper (``s = max|w| / q_max``, ``q = round(w / s)``) and by torchao
    (``IntxWeightOnlyConfig``: ``s = max|w| / ((q_max - q_min) / 2)``, ``q = round(w * (1 / s))``):
    how many integers agree, how the levels are used, and each one's error. Every setting is
    quantized by torchao itself, once, when the widget is built."""
    from course import torchao_bridge as ao  # torchao, without its known import warnings

    weight = layer_weights(5, 64, 128) if weight is None else check_matrix(weight, "weight")
    weight = weight.detach().float()
    granularities = {"per row": (ao.PerAxis(0), (1, weight.shape[1]))}
    if weight.shape[1] % 32 == 0:
        granularities["groups of 32"] = (ao.PerGroup(32), (1, 32))
    helper.check_bits(bits)
    if granularity not in granularities:
        raise ValueError(f"granularity must be one of {list(granularities)}, got {granularity!r}")
    linear = ao.linear_holding(weight)

    def quantized(bits: int, name: str) -> tuple:
        torchao_granularity, block = granularities[name]
        dtype = helper.integer_dtype(bits)
        config = ao.IntxWeightOnlyConfig(weight_dtype=dtype, granularity=torchao_granularity)
        stored = ao.stored_tensors(ao.quantized_copy(linear, config).weight)
        trip = round_trip(weight, block, dtype, "symmetric")
        restored_t = helper.dequantize_blocks(
            stored["qdata"], stored["scale"], stored["zero_point"], block
        )
        return trip.quantized, trip.scale, trip.dequantized, stored, restored_t

    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "granularity": buttons("scales", list(granularities), granularity),
    }

    @functools.cache  # every setting is computed once, below: no change runs torchao
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
        plot = LevelCountsData(
            q_min=q_min,
            q_max=q_max,
            helper_counts=torch.histogram(q_h.float(), levels.float() - 0.5).hist.numpy(),
            torchao_counts=torch.histogram(q_t.float(), levels.float() - 0.5).hist.numpy(),
            title=f"{bits}-bit, {granularity}: {equal:.1%} of the integers agree",
        )
        return View(readout, [], plot)

    for width, name in itertools.product(range(2, 9), granularities):
        compute(bits=width, granularity=name)  # as the explorer calls it: the same cache key
    return Explorer(
        "helper against torchao: the same symmetric quantization, two conventions",
        controls,
        compute,
        LevelCounts,
        labels={
            **ERROR_LABELS,
            "torchao_step_over_helper": "torchao's step / helper's",
            "values_on_q_min_helper": "values on q_min, helper",
            "values_on_q_min_torchao": "values on q_min, torchao",
            "mse": "MSE, helper",
            "mse_torchao": "MSE, torchao",
        },
    )


@functools.cache
def _clip_searches() -> tuple[dict, dict]:
    """``explore_clipping``'s samples by outlier strength (1 to 16) and, for every bits and
    strength, the best ratio of ``helper.search_clip_ratio`` and its SQNR: searched once."""
    samples = {
        k: layer_weights(0, 1, 4096, (0.0, 0.0), outlier_factor=k).flatten() for k in range(1, 17)
    }
    best_clips = {}
    for (strength, data), bits in itertools.product(samples.items(), range(2, 9)):
        dtype = helper.integer_dtype(bits)
        best = float(helper.search_clip_ratio(data, data.shape, dtype)[0])
        scale = helper.clip_scale(data, best, dtype)
        q = helper.linear_q_with_scale_and_zero_point(data, scale, 0, dtype)
        best_clips[bits, strength] = (best, helper.sqnr_db(data, scale * q.float()))
    return samples, best_clips


def explore_clipping(bits: int = 4, clip_ratio: float = 1.0, outlier_strength: int = 8) -> Explorer:
    """L5-A: 4096 standard normal values, one in 256 made ``outlier_strength`` times larger,
    quantized symmetric per tensor with ``s = alpha / q_max``, ``alpha = c max|r|``: values
    above ``alpha`` and below ``q_min s = -(q_max + 1) / q_max alpha`` are clipped. It shows the
    histogram with the levels and the clipped zones, the two parts of the MSE, the SQNR, and the
    best ``c`` of ``helper.search_clip_ratio`` (``_clip_searches``: no change runs a search)."""
    helper.check_bits(bits)
    samples, best_clips = _clip_searches()
    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "clip_ratio": float_slider("clip ratio c", clip_ratio, 0.05, 1.0, 0.01),
        "outlier_strength": int_slider("outlier strength", outlier_strength, 1, 16),
    }

    def compute(bits: int, clip_ratio: float, outlier_strength: int) -> View:
        data, dtype = samples[outlier_strength], helper.integer_dtype(bits)
        q_min, q_max = helper.q_range(dtype)
        scale = helper.clip_scale(data, clip_ratio, dtype)
        quantized = helper.linear_q_with_scale_and_zero_point(data, scale, 0, dtype)
        restored = helper.linear_dequantization(quantized, scale, 0)
        rounding, clipping = helper.rounding_and_clipping_error(data, scale, 0, dtype)
        best_ratio, best_sqnr = best_clips[bits, outlier_strength]
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        # One axis for every bits: it spans the widest levels, 2 bits' at c = 1: [-2, 1] max|r|
        widest = float(data.abs().max())
        low, high = min(float(data.min()), -2 * widest), max(float(data.max()), widest)
        readout = {
            "clip_ratio": f"{clip_ratio:.2f}",
            "alpha": q_max * scale,
            "lowest_level": q_min * scale,
            "scale": scale,
            "clipped": int(helper.clipped(data, scale, 0, dtype).sum()),
            "rounding_mse": rounding,
            "clipping_mse": clipping,
            "mse": rounding + clipping,
            "sqnr_db": f"{helper.sqnr_db(data, restored):.1f}",
            "best_clip_ratio": f"{best_ratio:.2f}",
            "sqnr_db_at_best": f"{best_sqnr:.1f}",
        }
        plot = ClipHistogramData(
            values=data.double().numpy(),
            level_values=(scale * levels.double()).numpy(),
            used=torch.isin(levels, quantized).numpy(),
            inside=np.ones(levels.numel(), dtype=bool),
            title=f"{bits} bits, levels {format_number(q_min * scale)} to "
            f"{format_number(q_max * scale)}: SQNR {readout['sqnr_db']} dB "
            f"(best c = {readout['best_clip_ratio']})",
            clip_low=(q_min - 0.5) * scale,
            clip_high=(q_max + 0.5) * scale,
            x_limits=(low - 0.03 * (high - low), high + 0.03 * (high - low)),
        )
        return View(readout, [], plot)

    labels = {
        **QUANTIZER_LABELS,
        "clip_ratio": "clip ratio c = \N{GREEK SMALL LETTER ALPHA} / max|r|",
        "alpha": "top level q_max s = \N{GREEK SMALL LETTER ALPHA}",
        "lowest_level": "lowest level q_min s",
        "clipped": "values clipped",
        "rounding_mse": "rounding part of the MSE",
        "clipping_mse": "clipping part of the MSE",
        "sqnr_db": "SQNR (dB)",
        "best_clip_ratio": "best clip ratio (search)",
        "sqnr_db_at_best": "SQNR at the best ratio (dB)",
    }
    title = "Clipping the range: rounding against clipping error"
    return Explorer(title, controls, compute, ClipHistogram, labels=labels)


# L6-C: number formats -------------------------------------------------------------------------


def format_datasets(model: torch.nn.Module | None = None, rows: int = 256) -> dict:
    """The L6-C widget's data, each in rows of 256 (``rows`` of them at most): normal and
    heavy-tailed (Student's t, 3 degrees of freedom) values, and the weights of the digits MLP's
    first two layers (``model``, by default the shipped ``course.models.trained_digits_mlp``)."""
    model = _digits_model() if model is None else model
    digits = torch.cat([model[0].weight.detach().flatten(), model[2].weight.detach().flatten()])
    return {
        "normal": seeded_normal(60, rows, 256),
        "heavy-tailed": heavy_tailed(rows * 256, seed=61).reshape(rows, 256),
        "digits weights": digits[: rows * 256].reshape(-1, 256),
    }


@functools.cache
def _digits_model() -> torch.nn.Module:
    """The trained digits MLP (its shipped weights), read once per session."""
    from course.models import trained_digits_mlp

    return trained_digits_mlp()[0]


FORMAT_BLOCK_SIZES = (16, 32, 64, 128, 256)


def explore_number_formats(
    datasets: dict[str, torch.Tensor] | torch.Tensor | None = None,
    fmt: str = "NF4",
    block_size: int = 64,
    data: str | None = None,
) -> Explorer:
    """L6-C: a format (int4, NF4, MXFP4, int8, MXFP8 E4M3 or E5M2), a block size and a kind of
    data: the values as the format sees them (divided by their block's scale) under its levels,
    the error (MSE, SQNR) and the real bits per weight. ``datasets``: 2-D tensors by name, each
    with a last axis that 256 divides (default: ``format_datasets(rows=64)``), or one tensor. Every setting is
    computed once, when the widget is built: a change only redraws."""
    from course import formats

    datasets = format_datasets(rows=64) if datasets is None else datasets
    if not isinstance(datasets, dict):
        datasets = {"tensor": datasets}
    data = next(iter(datasets)) if data is None else data
    formats.check_format_name(fmt)
    helper.check_int(block_size, "block_size", FORMAT_BLOCK_SIZES, str(FORMAT_BLOCK_SIZES))
    if data not in datasets:
        raise ValueError(f"data must be one of {list(datasets)}, got {data!r}")
    views = {}
    for name, tensor in datasets.items():
        tensor = check_matrix(tensor, name)
        helper.check_divides(tensor.shape[-1], 256, "256", f"the rows of {name}")
        for format_name in formats.FORMATS:
            for block in FORMAT_BLOCK_SIZES:
                views[format_name, block, name] = _format_view(tensor, format_name, block)
    controls = {
        "fmt": widgets.Dropdown(
            options=list(formats.FORMATS), value=fmt, description="format", style=STYLE
        ),
        "block_size": widgets.SelectionSlider(
            options=FORMAT_BLOCK_SIZES, value=block_size, description="block size", style=STYLE
        ),
        "data": buttons("data", list(datasets), data),
    }

    def compute(fmt: str, block_size: int, data: str) -> View:
        return views[fmt, block_size, data]

    labels = {
        **ERROR_LABELS,
        "bits_per_weight": "bits per weight",
        "levels_used": "levels used",
        "saturated": "values saturated",
        "sqnr_db": "SQNR (dB)",
    }
    return Explorer(
        "Number formats at equal storage: levels, error and bits per weight",
        controls,
        compute,
        FormatLevels,
        labels=labels,
    )


def _format_view(tensor: torch.Tensor, name: str, block: int) -> View:
    """The explorer's view of ``tensor`` in format ``name`` with blocks of ``block`` values."""
    from course import formats

    trip = formats.round_trip(tensor, name, block)
    largest = float(trip.levels.abs().max())
    # Saturated: past an end level by more than half the last step, so clamped to it with a
    # larger error than rounding inside the grid can make. (An int format's fp16 scale puts a
    # block's largest value a hair past its top level: that value is rounded, not saturated.)
    ends = trip.levels.sort().values
    low, high = ends[0] - (ends[1] - ends[0]) / 2, ends[-1] + (ends[-1] - ends[-2]) / 2
    codes = helper.quantize_to_levels(trip.scaled, trip.levels)
    used = torch.bincount(codes.flatten(), minlength=trip.levels.numel()) > 0
    bits = formats.bits_per_weight(name, block, tensor.numel())
    sqnr = helper.sqnr_db(tensor, trip.restored)
    readout = {
        "format": name,
        "bits_per_weight": round(bits, 4),
        "levels": trip.levels.numel(),
        "levels_used": int(used.sum()),
        "saturated": int(((trip.scaled < low) | (trip.scaled > high)).sum()),
        "mse": helper.quantization_error(tensor, trip.restored),
        "sqnr_db": f"{sqnr:.1f}",
    }
    values = (trip.scaled / largest).flatten().double().numpy()
    counts, edges = np.histogram(values, bins=80, range=(-1.35, 1.35))
    plot = FormatLevelsData(
        values=values,
        level_values=(trip.levels / largest).double().numpy(),
        used=used.numpy(),
        inside=np.ones(trip.levels.numel(), dtype=bool),
        title=f"{name}, blocks of {block}: {bits:.3g} bits per weight, SQNR {sqnr:.1f} dB",
        counts=counts,
        edges=edges,
    )
    return View(readout, [], plot)
