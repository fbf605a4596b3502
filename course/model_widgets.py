"""The widgets of layers and models (lessons L3-E to L4-C, L6-A and L6-B): each an
``Explorer`` (see ``course.explorer``) whose numbers come from ``helper``. The widgets of single
tensors are in ``course.widgets``. Lessons call them; nothing else imports this module.
"""

from __future__ import annotations

import functools

import ipywidgets as widgets
import numpy as np
import torch

import helper
from course import gptq_runs
from course.data import Digits, layer_weights, load_digits_data, seeded_normal
from course.explorer import STYLE, Explorer, Matrix, View, buttons, int_slider
from course.language_model import Setting, generate, load, read_text
from course.live_plots import (
    MONTAGE_DIGITS,
    BitsPerByteBars,
    BitsPerByteBarsData,
    DigitMontage,
    DigitMontageData,
    OutputScatter,
    OutputScatterData,
    StorageBars,
    StorageBarsData,
    W8A8Errors,
    W8A8ErrorsData,
)
from course.models import accuracy, trained_digits_mlp
from course.observers import quantize_activations
from course.plots import as_matrix
from course.widget_parts import (
    ERROR_LABELS,
    bits_granularity_group_controls,
    check_matrix,
    error_readout,
    granularity_block,
    granularity_controls,
    granularity_sync,
    group_size_slider,
    round_trip,
)
from helper import Granularity


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
        else helper.check_float_tensor(input, "input")
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
        trip = round_trip(weight, block, helper.integer_dtype(bits), "symmetric")
        output = helper.quantized_linear_W8A32_without_bias(
            input,
            trip.quantized,
            helper.expand_blocks(trip.scale, block),
            helper.expand_blocks(trip.zero_point, block),
        )
        readout = {
            "granularity": granularity,
            "dtype": helper.dtype_name(helper.integer_dtype(bits)),
            **error_readout(reference, output),
            "relative_error": float(
                (output - reference).norm() / reference.norm().clamp_min(helper.ZERO_RANGE_SCALE)
            ),
            "weight_mse": helper.quantization_error(weight, trip.dequantized),
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
        plot = OutputScatterData(
            reference=y.ravel(),
            quantized=y_q.ravel(),
            title=f"W{bits}A32 ({granularity}): relative error {readout['relative_error']:.2%}",
        )
        return View(readout, matrices, plot)

    return Explorer(
        "A linear layer with quantized weights against the fp32 layer",
        controls,
        compute,
        OutputScatter,
        sync=granularity_sync,
        labels={
            **ERROR_LABELS,
            "relative_error": "relative error",
            "weight_mse": "weight MSE",
        },
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
    weight = helper.check_float_tensor(weight, "weight").float()
    if input is None:
        input = seeded_normal(40, 8, weight.shape[1]).relu_() + 0.1
    input = helper.check_float_tensor(input, "input").float()
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
        plot = W8A8ErrorsData(
            fp32=fp32.flatten().numpy(),
            w8a8=w8a8.flatten().numpy(),
            w8a32=w8a32.flatten().numpy(),
            title=f"W8A8 ({bits}-bit activations): relative error {readout['relative_error']:.2%}",
        )
        return View(readout, matrices, plot)

    labels = {
        **ERROR_LABELS,
        "mse_of_W8A32": "MSE of W8A32",
        "relative_error": "relative error",
    }
    return Explorer(
        "A linear layer in integers (W8A8) against W8A32 and fp32",
        controls,
        compute,
        W8A8Errors,
        labels=labels,
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
    helper.check_int(group_size, "group_size", sizes, f"one of {sizes}")
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
            "scales_in": helper.dtype_name(scale_dtype),
            "weight_bytes": weight_bytes,
            "scale_bytes": scale_bytes,
            "bits_per_weight": measured,
            "ideal_bits": helper.bits_per_weight(bits, group_size, scale_bits),
            "compression": fp32_bytes / (weight_bytes + scale_bytes),
            "mse": helper.quantization_error(weight, dequantized),
        }
        plot = StorageBarsData(
            weight_bytes=(fp32_bytes, weight_bytes),
            scale_bytes=(0, scale_bytes),
            fp32_bytes=fp32_bytes,
            title=f"{bits}-bit, group {group_size}: {measured:.4g} bits per weight, "
            f"{readout['compression']:.3g}\u00d7 smaller than fp32",
        )
        return View(readout, [], plot)

    return Explorer(
        "What a quantized weight really costs: packed values plus scales",
        controls,
        compute,
        StorageBars,
        labels={**ERROR_LABELS, "bits_per_weight": "bits per weight"},
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
    setting, so moving back to a setting is instant. ``model=None`` takes the shipped
    ``trained_digits_mlp()``; ``mse`` is the weights' mean squared error over all layers."""
    if model is None:
        model, data = trained_digits_mlp() if data is None else (trained_digits_mlp()[0], data)
    data = load_digits_data() if data is None else data
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    widths = [m.in_features for m in linears]
    sizes = [d for d in (4, 8, 16, 32, 64, 128) if all(w % d == 0 for w in widths)]
    helper.check_int(group_size, "group_size", sizes, f"one of {sizes}")
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
        plot = DigitMontageData(
            images=data.x_test[shown],
            true=data.y_test[shown].tolist(),
            predicted=predicted[shown].tolist(),
            title=f"{bits}-bit {granularity}{f' (group {group})' if group else ''}: "
            f"{wrong.numel()} of {len(data.y_test)} test digits wrong"
            f"{f' (first {MONTAGE_DIGITS} shown)' if wrong.numel() > MONTAGE_DIGITS else ''}",
        )
        return View(readout, [], plot)

    return Explorer(
        "The digits MLP, quantized: accuracy, bytes and the digits it gets wrong",
        controls,
        compute,
        DigitMontage,
        sync=granularity_sync,
        labels={**ERROR_LABELS, "mse": "weight MSE"},
    )


# The W8A8 choice of explore_language_model: int8 weights per channel and int8 activations,
# dynamic per token (lesson L5-A's ``quantize_activations``).
_W8A8 = "W8A8, activations per token"


def explore_language_model(
    model: torch.nn.Module | None = None,
    text: bytes | None = None,
    bits: int = 4,
    granularity: Granularity = "per-group",
    group_size: int = 32,
    prompt: str = "def ",
    n_bytes: int = 32,
) -> Explorer:
    """L6-A: the language model with its linear layers quantized (``helper.quantize_model``) to
    ``bits`` per tensor, per channel or per group, or W8A8: its bits per byte on ``text``, its
    real bytes, and what it writes (greedy) after ``prompt``. Every setting is computed when the
    widget is built, so a change of control only looks the answer up. ``model=None`` loads the
    course's model, ``text=None`` takes the first 2,048 bytes of its held-out text."""
    model = load() if model is None else model
    text = read_text("eval")[:2048] if text is None else text
    helper.check_int(bits, "bits", (2, 3, 4, 8), "2, 3, 4 or 8")
    helper.check_int(group_size, "group_size", (32, 64, 128), "32, 64 or 128")
    fp32_bits = helper.bits_per_byte(model, text)

    def measured(quantized: torch.nn.Module, stored: torch.nn.Module | None = None) -> dict:
        written = generate(quantized, prompt, n_bytes)
        return {
            "bits_per_byte": helper.bits_per_byte(quantized, text),
            "fp32_bits_per_byte": fp32_bits,
            "model_bytes": helper.model_bytes(quantized if stored is None else stored),
            "fp32_bytes": helper.model_bytes(model),
            "writes": written.replace("\n", "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}"),
        }

    table = {
        (b, g, size): measured(Setting(b, g, size).apply(model))
        for b in (8, 4, 3, 2)
        for g, sizes in (
            ("per-tensor", [None]),
            ("per-channel", [None]),
            ("per-group", [128, 64, 32]),
        )
        for size in sizes
    }
    # W8A8's layers hold their int8 weights dequantized, to compute in float: its bytes are
    # those of the same weights stored in int8 per channel (activations are not stored).
    table[_W8A8] = measured(
        quantize_activations(model, torch.int8), Setting(8, "per-channel").apply(model)
    )
    controls = {
        "model": buttons("quantize", ["weights only", _W8A8], "weights only"),
        "bits": widgets.SelectionSlider(
            options=[2, 3, 4, 8],
            value=bits,
            description="bits",
            continuous_update=True,
            style=STYLE,
        ),
        "granularity": widgets.Dropdown(
            options=["per-tensor", "per-channel", "per-group"],
            value=granularity,
            description="scale per",
            style=STYLE,
        ),
        "group_size": group_size_slider([32, 64, 128], group_size),
    }

    def sync(controls: dict) -> None:
        weights_only = controls["model"].value == "weights only"
        controls["bits"].disabled = controls["granularity"].disabled = not weights_only
        controls["group_size"].disabled = (
            not weights_only or controls["granularity"].value != "per-group"
        )

    def compute(model: str, bits: int, granularity: str, group_size: int) -> View:
        if model == _W8A8:
            return View(table[_W8A8], [])
        return View(
            table[(bits, granularity, group_size if granularity == "per-group" else None)], []
        )

    return Explorer(
        f"The language model, quantized: bits per byte on {len(text):,} held-out bytes, and what "
        "it writes",
        controls,
        compute,
        sync=sync,
        labels={
            "bits_per_byte": "bits per byte",
            "fp32_bits_per_byte": "bits per byte, fp32",
            "model_bytes": "model bytes",
            "fp32_bytes": "model bytes, fp32",
            "writes": f"writes after {prompt!r}",
        },
    )


def explore_gptq(rows: list[dict] | None = None, fp32: float | None = None) -> Explorer:
    """L6-B: the course's language model with its weights rounded to nearest and by GPTQ, in
    bits per byte on held-out text, for each bit width, granularity and calibration size of
    ``rows`` (``gptq_runs.compare``'s rows; ``fp32``: the fp32 model's bits per byte). Every
    setting is computed beforehand, so a change only looks it up. ``rows=None`` runs a small
    grid on the trained model (``gptq_runs.evaluation_windows``), which takes a while."""
    if rows is None:
        rows, fp32 = _default_gptq_runs()
    if not rows or fp32 is None:
        raise ValueError("rows must hold gptq_runs.compare's rows, and fp32 the fp32 bits per byte")
    table = {(row["bits"], row["setting"], row["windows"]): row for row in rows}
    bits_options = sorted({key[0] for key in table})
    settings = list(dict.fromkeys(key[1] for key in table))
    windows = sorted({key[2] for key in table})
    xmax = 1.12 * max(fp32, *(max(row["rtn"], row["gptq"]) for row in rows))
    start = 3 if 3 in bits_options else bits_options[-1]
    controls = {
        "bits": int_slider("bits", start, bits_options[0], bits_options[-1]),
        "setting": buttons("scales", settings, settings[0]),
    }
    if len(windows) > 1:  # one calibration size: nothing to choose
        controls["windows"] = widgets.SelectionSlider(
            options=windows,
            value=windows[-1],
            description="calibration windows",
            continuous_update=True,
            style=STYLE,
        )

    def compute(bits: int, setting: str, windows: int = windows[-1]) -> View:
        row = table[bits, setting, windows]
        readout = {
            "fp32_bits_per_byte": fp32,
            "round_to_nearest": row["rtn"],
            "GPTQ": row["gptq"],
            "GPTQ_gain": f"{row['rtn'] - row['gptq']:.4f} ± {row['gain_se']:.4f}",
            "loss_won_back": f"{gptq_runs.won_back(fp32, row['rtn'], row['gptq']):.0%}",
            "output_error_RTN": f"{row['rtn_error']:.2%}",
            "output_error_GPTQ": f"{row['gptq_error']:.2%}",
        }
        plot = BitsPerByteBarsData(
            fp32, row["rtn"], row["gptq"], xmax, f"{bits}-bit, {setting}; GPTQ on {windows} windows"
        )
        return View(readout, [], plot)

    return Explorer(
        "Round to nearest against GPTQ on the language model", controls, compute, BitsPerByteBars
    )


@functools.cache
def _default_gptq_runs() -> tuple[list[dict], float]:
    """``explore_gptq``'s runs without arguments: the trained model, the lesson's settings, on
    one thread as in the lesson (GPTQ's loop is thousands of small steps), leaving torch's
    global random state alone (building the model draws its initial weights)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng():
            model = load()
        windows = gptq_runs.evaluation_windows(gptq_runs.EVAL_WINDOWS, model.context_length)
        rows = gptq_runs.compare(model, windows, windows=(4, 32))
        return rows, float(helper.window_bits(model, windows).mean())
    finally:
        torch.set_num_threads(threads)
