"""The "Your turn" checkers: each runs a learner's function and ``helper``'s answer on the same
inputs, through one ``check_exercise``, and says plainly what happened.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

import helper
from course.data import (
    course_tensor,
    heavy_tailed,
    seeded_normal,
    skewed_tensor,
)


class Verdict:
    """The outcome of ``check_exercise``: ``status`` is "pass", "mismatch", "not done yet"
    or "error", and ``message`` says plainly what happened. It displays as its message."""

    def __init__(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def __bool__(self) -> bool:
        return self.status == "pass"

    def __repr__(self) -> str:
        return self.message


def _kind(value: object) -> str:
    """What ``value`` is, in words: "a tensor of shape (3, 3) and dtype torch.int8", "a float"."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "NumPy array"
        return f"a {kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    article = "an" if type(value).__name__[0] in "aeiou" else "a"
    return f"{article} {type(value).__name__}"


def _show(value: object) -> str:
    """A short text of an input: small tensors in full, large ones by shape and dtype."""
    if isinstance(value, torch.Tensor) and value.numel() <= 6:
        return f"torch.tensor({value.tolist()}, dtype={value.dtype})"
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _kind(value).removeprefix("a ")
    if isinstance(value, torch.nn.Module):
        return repr(value).replace("\n", " ")
    return repr(value)


def _difference(expected: object, got: object, where: str = "the result") -> str | None:
    """None when ``got`` equals ``expected`` (floats within 1e-6 relative), else how it differs.

    The types must be the ones the exercise asks for: a tuple of the same length, a tensor of
    the same shape and dtype, a Python float where a float is expected, an int for an int.
    """
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"{where} should be a tuple of {len(expected)} values, got {_kind(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            if (found := _difference(e, g, f"{where}[{i}]")) is not None:
                return found
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or (got.shape, got.dtype) != (
            expected.shape,
            expected.dtype,
        ):
            return f"{where} should be {_kind(expected)}, got {_kind(got)}"
        close = (
            torch.isclose(got, expected, rtol=1e-6, atol=0)
            if expected.is_floating_point()
            else got == expected
        )
        if bool(close.all()):
            return None
        wrong = torch.nonzero(~close)
        index = tuple(int(i) for i in wrong[0])
        return (
            f"{where} differs at index {index}: expected {expected[index].item()}, got "
            f"{got[index].item()} ({len(wrong)} of {expected.numel()} values differ)"
        )
    if isinstance(expected, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            hint = " (.item() turns a one-value tensor into one)" * isinstance(got, torch.Tensor)
            return f"{where} should be a Python float, got {_kind(got)}{hint}"
        if not math.isclose(got, expected, rel_tol=1e-6):
            return f"{where} should be {expected!r}, got {got!r}"
        return None
    int_wanted = isinstance(expected, int) and not isinstance(expected, bool)
    if int_wanted and (isinstance(got, bool) or not isinstance(got, int)):
        return f"{where} should be an int, {expected!r}, got {_kind(got)}: {got!r}"
    return None if got == expected else f"{where} should be {expected!r}, got {got!r}"


def check_exercise(
    learner_function: Callable,
    reference_function: Callable,
    cases: Sequence[tuple],
    name: str = "your function",
    labels: Sequence[str] | None = None,
) -> Verdict:
    """Run ``learner_function`` and ``reference_function`` on each tuple of arguments in ``cases``.

    Returns a ``Verdict``: "pass" when every result matches, otherwise the first case where
    it does not ("mismatch": the input, and what was expected and received), raised an
    exception ("error"), or raised ``NotImplementedError`` ("not done yet": the exercise as
    shipped, whose body is only ``raise NotImplementedError``). ``labels`` name the cases in
    words, in the messages.
    """
    for number, args in enumerate(cases, start=1):
        expected = reference_function(*args)
        call = f"{name}({', '.join(_show(arg) for arg in args)})"
        if labels is not None:
            call = f"{labels[number - 1]}: {call}"
        try:
            got = learner_function(*args)
        except NotImplementedError:
            return Verdict("not done yet", f"Not done yet: fill in {name} and run this cell again.")
        except Exception as error:  # noqa: BLE001 (a learner's bug is reported, not raised)
            return Verdict(
                "error",
                f"{name} raised {type(error).__name__}: {error} on input {number} of "
                f"{len(cases)}, {call}.",
            )
        if (difference := _difference(expected, got)) is not None:
            return Verdict(
                "mismatch",
                f"{name} differs on input {number} of {len(cases)}, {call}: {difference}.",
            )
    return Verdict("pass", f"Well done: {name} matches the reference on all {len(cases)} inputs.")


def check_mean_absolute_error(learner_function: Callable) -> Verdict:
    """L2-A "Your turn": ``learner_function(original, dequantized)`` must return
    ``mean(|r - r'|)`` as a Python float, on several seeded inputs."""
    original = course_tensor()
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(original, 3.5, -70), 3.5, -70
    )
    cases = [(original, restored)]
    for seed in (1, 2, 3):
        tensor = seeded_normal(seed, 4, 4, scale=10.0)
        cases.append(
            (tensor, helper.linear_dequantization(*helper.linear_quantization(tensor, torch.int4)))
        )
    cases.append((original, original.clone()))
    labels = [
        "the worked example, quantized with scale 3.5 and zero point -70",
        *(f"random 4x4 values through int4 (seed {seed})" for seed in (1, 2, 3)),
        "the worked example against an exact copy (an error of 0)",
    ]
    return check_exercise(
        learner_function,
        lambda r, d: helper.quantization_error(r, d, "mae"),
        cases,
        name="mean_absolute_error",
        labels=labels,
    )


def check_scale_and_zero_point(learner_function: Callable) -> Verdict:
    """L2-B "Your turn": ``learner_function(tensor, dtype)`` must return helper's
    ``helper.get_q_scale_and_zero_point(tensor, dtype)``: the range widened to include 0, any dtype
    (int8, uint8, int4, uint4, ...), and ``ZERO_RANGE_SCALE`` for an all-zero tensor."""
    cases = [
        (course_tensor(), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.uint8),
        (seeded_normal(4, 4, 4), torch.int4),
        (seeded_normal(5, 3, 5).abs(), torch.uint4),
        (-seeded_normal(6, 6).abs() - 1.0, torch.int8),
        (torch.zeros(2, 3), torch.int8),
        (seeded_normal(19, 4, 4, scale=3.0), torch.uint8),
        (seeded_normal(20, 5, 3, scale=3.0), torch.int8),
    ]
    labels = [
        "the worked example in int8",
        "an all-positive (ReLU-like) tensor in int8",
        "the same in uint8",
        "random values in int4",
        "random non-negative values in uint4",
        "an all-negative tensor in int8",
        "an all-zero tensor (a range of width 0)",
        "random values in uint8",
        "random values in int8",
    ]
    return check_exercise(
        learner_function,
        helper.get_q_scale_and_zero_point,
        cases,
        name="get_q_scale_and_zero_point_with_zero",
        labels=labels,
    )


def check_symmetric_quantization(learner_function: Callable) -> Verdict:
    """L3-A "Your turn": ``learner_function(tensor, bits)`` must return ``(quantized, scale)``
    of symmetric per-tensor quantization with a signed ``bits``-bit integer, the values held in
    an int8 tensor, as ``helper.linear_q_symmetric(tensor, helper.integer_dtype(bits))``."""
    cases = [
        (seeded_normal(7, 4, 4), 8),
        (seeded_normal(8, 4, 4), 4),
        (skewed_tensor(64, seed=9), 4),
        (seeded_normal(10, 3, 6, scale=5.0), 3),
        (seeded_normal(11, 8), 2),
    ]
    labels = [
        "random values at 8 bits",
        "random values at 4 bits",
        "a skewed tensor at 4 bits",
        "random values, 5 times larger, at 3 bits",
        "random values at 2 bits",
    ]
    return check_exercise(
        learner_function,
        lambda tensor, bits: helper.linear_q_symmetric(tensor, helper.integer_dtype(bits)),
        cases,
        name="linear_q_symmetric_bits",
        labels=labels,
    )


def _asymmetric_per_row_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8):
    block = helper.block_size_for(tensor.shape, "per-channel", dim=0)
    return helper.quantize_blocks(tensor, block, dtype, "asymmetric")


def check_asymmetric_per_row(learner_function: Callable) -> Verdict:
    """L3-B "Your turn": ``learner_function(tensor, dtype)`` quantizes a 2-D tensor in
    asymmetric mode with one scale and one zero point per row, the range of each row widened
    to include 0, and returns ``(quantized, scale, zero_point)``: ``quantized`` of the
    dtype's container, ``scale`` float32 and ``zero_point`` int32, both shaped (rows, 1), as
    ``helper.quantize_blocks(tensor, (1, columns), dtype, "asymmetric")`` does. The cases hold
    the worked example, rows all positive, rows all negative, a row all zero, and ``uint8`` and
    4-bit types, each kind its own case, so that a failure names the kind of row it is on."""
    positive = torch.linspace(2.0, 10.0, 6)
    cases = [
        (course_tensor(), torch.int8),
        (seeded_normal(16, 4, 6, scale=3.0), torch.int8),
        (torch.stack([positive, positive / 4]), torch.int8),
        (torch.stack([-positive / 2, -positive / 8]), torch.int8),
        (torch.stack([positive, torch.zeros(6)]), torch.int8),
        (seeded_normal(17, 3, 8, shift=1.0), torch.uint8),
        (seeded_normal(18, 5, 4), torch.int4),
    ]
    labels = [
        "the worked example in int8",
        "random values in int8",
        "rows all positive (each range widened down to 0), in int8",
        "rows all negative (each range widened up to 0), in int8",
        "a row all zero (a range of width 0: ZERO_RANGE_SCALE), in int8",
        "random values shifted up by 1, in uint8",
        "random values in int4",
    ]
    return check_exercise(
        learner_function, _asymmetric_per_row_reference, cases, "asymmetric_per_row", labels
    )


def _per_channel_last_axis_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8):
    return helper.linear_q_symmetric_per_channel(tensor, dim=-1, dtype=dtype)


def check_per_channel_last_axis(learner_function: Callable) -> Verdict:
    """L3-C "Your turn": ``learner_function(tensor, dtype)`` quantizes a 3-D tensor symmetrically
    with one scale per index of the last axis, and returns ``(q, scale)`` with ``scale`` shaped
    ``(1, 1, n)``, as ``helper.linear_q_symmetric_per_channel(tensor, dim=-1, dtype)`` does."""
    cases = [
        (seeded_normal(4, 2, 3, 4), torch.int8),
        (seeded_normal(5, 4, 2, 5, scale=10.0), torch.int8),
        (seeded_normal(6, 1, 6, 3), torch.int16),
        (seeded_normal(7, 3, 3, 8, scale=0.01), torch.int8),
    ]
    labels = [
        "random values of shape (2, 3, 4) in int8",
        "random values 10 times larger, shape (4, 2, 5), in int8",
        "random values of shape (1, 6, 3) in int16",
        "small values (a hundredth), shape (3, 3, 8), in int8",
    ]
    return check_exercise(
        learner_function, _per_channel_last_axis_reference, cases, "per_channel_last_axis", labels
    )


def check_per_group_dequantization(learner_function: Callable) -> Verdict:
    """L3-D "Your turn": ``learner_function(quantized_tensor, scale, group_size)`` dequantizes
    per-group values, with ``scale`` laid out as ``helper.linear_q_symmetric_per_group`` returns it
    (``(*shape[:-1], n_groups_per_row)``), for 2-D and 3-D tensors, as float32."""
    shapes = [((4, 6), 3), ((3, 8), 4), ((2, 3, 8), 2), ((6, 6), 6), ((2, 12), 4)]
    cases = []
    for seed, (shape, group_size) in enumerate(shapes, start=8):
        tensor = seeded_normal(seed, *shape)
        quantized, scale = helper.linear_q_symmetric_per_group(tensor, group_size)
        cases.append((quantized, scale, group_size))
    labels = [f"shape {shape} in groups of {group_size}" for shape, group_size in shapes]
    return check_exercise(
        learner_function,
        helper.linear_dequantization_per_group,
        cases,
        "dequantize_per_group",
        labels,
    )


def _w8a32_with_bias_reference(
    input: torch.Tensor,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    z_w: int | torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    return torch.nn.functional.linear(input, helper.linear_dequantization(q_w, s_w, z_w), bias)


def check_w8a32_with_bias(learner_function: Callable) -> Verdict:
    """L3-E "Your turn": ``learner_function(input, q_w, s_w, z_w, bias)`` is a W8A32 linear
    layer with a bias: ``y = x (s_w (q_w - z_w))^T + b``, checked with symmetric and asymmetric
    (non-zero zero point) weights, per-tensor and per-channel scales, and batched inputs."""
    example = torch.tensor([[-2.0, -1.13, 0.42], [-1.51, 0.25, 1.62], [0.23, 1.52, -1.5]])
    x, bias = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0])
    cases = [
        (x, *helper.linear_q_symmetric(example), 0, bias),
        (x, *helper.linear_quantization(example), bias),
    ]
    weight, big_bias = seeded_normal(12, 4, 8), seeded_normal(13, 4)
    cases.append((seeded_normal(14, 2, 8), *helper.linear_quantization(weight), big_bias))
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    cases.append((seeded_normal(15, 3, 8), q_w, s_w, 0, big_bias))
    labels = [
        "symmetric weights (zero point 0), one input",
        "asymmetric weights (a non-zero zero point), one input",
        "asymmetric weights, a batch of 2 inputs",
        "symmetric weights with a scale per channel, a batch of 3 inputs",
    ]
    return check_exercise(
        learner_function,
        _w8a32_with_bias_reference,
        cases,
        "quantized_linear_W8A32_with_bias",
        labels,
    )


def _w8a8_per_token_reference(q_x, s_x, z_x, q_w, s_w) -> torch.Tensor:
    """``s_x s_w^T (q_x - z_x) q_w^T`` in float64, one (s_x, z_x) per row of ``q_x``."""
    product = (q_x.double() - z_x.double()) @ q_w.double().t()
    return (product * s_x.double() * s_w.double().reshape(1, -1)).to(torch.float32)


def check_w8a8_per_token(learner_function: Callable) -> Verdict:
    """L4 W8A8 "Your turn": ``learner_function(q_x, s_x, z_x, q_w, s_w)`` with one activation
    scale and zero point per row of ``q_x`` (``s_x``, ``z_x`` shaped (m, 1)) must return
    ``s_x s_w^T * (q_x q_w^T - z_x * rowsum(q_w))`` as float32 (m, out)."""
    cases, labels = [], []
    for seed, (m, k, n) in enumerate(((4, 8, 3), (17, 32, 24), (1, 5, 2), (33, 64, 16)), 20):
        labels.append(f"{m} row{'s' if m > 1 else ''} of {k} activations, {n} outputs")
        x = seeded_normal(seed, m, k) * 2.0 + 0.5
        q_x, s_x, z_x = helper.quantize_blocks(x, (1, k), torch.int8, "asymmetric")
        q_w, s_w = helper.linear_q_symmetric_per_channel(seeded_normal(seed + 50, n, k), dim=0)
        cases.append((q_x, s_x, z_x, q_w, s_w))
    return check_exercise(
        learner_function, _w8a8_per_token_reference, cases, "w8a8_per_token", labels
    )


def check_pack_2bit(learner_function: Callable) -> Verdict:
    """L4 packing "Your turn": ``learner_function(q)`` packs unsigned 2-bit values (a uint8
    tensor of 0..3) four to a byte, the first in the lowest bits, as ``helper.pack_weights(q, 2)``."""
    generator = torch.Generator().manual_seed(30)
    cases = [(torch.tensor([1, 2, 3, 0], dtype=torch.uint8),)]
    cases += [
        (torch.randint(0, 4, shape, generator=generator, dtype=torch.uint8),)
        for shape in ((8,), (3, 4), (7,), (5, 3), (1,))
    ]
    labels = [
        "the four values 1, 2, 3, 0 (one byte)",
        "8 random values (two bytes)",
        "a 3x4 tensor (12 values, flattened)",
        "7 values (padded to 8)",
        "a 5x3 tensor (15 values, padded to 16)",
        "a single value (padded to 4)",
    ]
    return check_exercise(
        learner_function, lambda q: helper.pack_weights(q, 2), cases, "pack_2bit", labels
    )


def check_to_linear(learner_function: Callable) -> Verdict:
    """L4 trained-network "Your turn": ``learner_function(layer)`` turns a ``helper.QuantizedLinear``
    back into an ``nn.Linear`` whose weight is ``s q`` (unpacked if packed) and whose bias is
    the layer's; compared as ``(weight, bias)``."""

    def as_tensors(function: Callable) -> Callable:
        def wrapped(layer):
            linear = function(layer)
            if not isinstance(linear, torch.nn.Linear):
                return linear
            bias = None if linear.bias is None else linear.bias.detach()
            return linear.weight.detach(), bias

        return wrapped

    def reference(layer):
        return layer.dequantized_weight(), layer.bias

    cases = []
    with torch.random.fork_rng():
        torch.manual_seed(31)
        for bits, granularity, group_size in (
            (8, "per-channel", None),
            (4, "per-group", 16),
            (2, "per-tensor", None),
            (3, "per-group", 8),
        ):
            linear = torch.nn.Linear(32, 6)
            cases.append(
                (helper.QuantizedLinear.from_linear(linear, bits, granularity, group_size),)
            )
    labels = [
        "8 bits per channel (int8 values)",
        "4 bits in groups of 16 (packed)",
        "2 bits per tensor (packed)",
        "3 bits in groups of 8 (int8 values, not packed)",
    ]
    return check_exercise(as_tensors(learner_function), reference, cases, "to_linear", labels)


def _clip_search_reference(tensor: torch.Tensor, bits: int) -> tuple[float, float]:
    ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, helper.integer_dtype(bits))
    return float(ratio), float(mse)


def check_clip_search(learner_function: Callable) -> Verdict:
    """L5-A "Your turn": ``learner_function(tensor, bits)`` returns ``(ratio, mse)``, Python
    floats: the clip ratio of ``helper.CLIP_RATIOS`` (the first one on a tie) whose symmetric
    per-tensor quantization with ``s = c max|r| / q_max`` has the smallest MSE, and that MSE."""
    outlier = seeded_normal(52, 1000)
    outlier[7] = 60.0
    cases = [
        (seeded_normal(50, 2000), 8),
        (heavy_tailed(2000, seed=51), 4),
        (heavy_tailed(2000, seed=51), 2),
        (outlier, 3),
        (torch.zeros(16), 4),
    ]
    labels = [
        "normal values at 8 bits",
        "heavy-tailed values at 4 bits",
        "the same at 2 bits",
        "one outlier of 60 at 3 bits",
        "all zeros (every ratio ties: keep the first, 1.0)",
    ]
    return check_exercise(learner_function, _clip_search_reference, cases, "clip_search", labels)


def _error_feedback_reference(
    weight_row: torch.Tensor, factor: torch.Tensor, scale: float, bits: int
) -> torch.Tensor:
    """GPTQ on one row: round each weight in turn, push its error onto the weights after it."""
    row, q_min, q_max = weight_row.double().clone(), *helper.q_range(helper.integer_dtype(bits))
    q = torch.zeros(row.shape, dtype=torch.int8)
    for j in range(row.numel()):
        q[j] = int((row[j] / scale).round().clamp(q_min, q_max))
        error = (row[j] - scale * q[j]) / factor[j, j]
        row[j + 1 :] -= error * factor[j, j + 1 :]
    return q


def _error_feedback_case(
    generator: torch.Generator, bits: int, correlated: bool
) -> tuple[torch.Tensor, torch.Tensor, float, int]:
    """One ``(weight_row, factor, scale, bits)``: 16 weights, and ``factor`` the upper Cholesky
    factor of the damped inverse Hessian of 200 inputs, correlated or not (``H = I``)."""
    row = torch.randn(16, generator=generator, dtype=torch.float64)
    if correlated:
        x = torch.randn(200, 16, generator=generator, dtype=torch.float64) + 0.5
        hessian = helper.hessian_from_inputs(
            x @ torch.randn(16, 16, generator=generator, dtype=torch.float64)
        )
    else:
        hessian = torch.eye(16, dtype=torch.float64)
    damped = hessian + 0.01 * hessian.diagonal().mean() * torch.eye(16, dtype=torch.float64)
    factor = torch.linalg.cholesky(
        torch.cholesky_inverse(torch.linalg.cholesky(damped)), upper=True
    )
    scale = float(helper.quantize_weight_symmetric(row[None].float(), bits)[1])
    return row, factor, scale, bits


def error_feedback_cases() -> tuple[list[tuple], list[str]]:
    """The checker's inputs ``(weight_row, factor, scale, bits)`` and their names: ``factor`` is
    the upper Cholesky factor of the damped inverse Hessian, ``scale`` the row's fp16 scale.
    The last case's updates push six weights past the 2-bit grid: without the clamp, they
    round to 2 or -3."""
    generator = torch.Generator().manual_seed(61)
    cases = [
        _error_feedback_case(generator, bits, correlated)
        for bits, correlated in ((4, False), (4, True), (3, True), (2, True))
    ]
    cases.append(_error_feedback_case(torch.Generator().manual_seed(65), 2, True))
    labels = [
        "uncorrelated inputs, H = I: nothing to push, plain rounding",
        "4 bits, correlated inputs",
        "3 bits, correlated inputs",
        "2 bits: large errors to push",
        "2 bits, updated weights pushed past the grid: they must be clamped to -2..1",
    ]
    return cases, labels


def check_error_feedback(learner_function: Callable) -> Verdict:
    """L6-B "Your turn": ``learner_function(weight_row, factor, scale, bits)`` quantizes one
    weight row as GPTQ does and returns its integers (int8): for each ``j`` in order,
    ``q_j = clamp(round(w_j / s))``, then ``e = (w_j - s q_j) / U_jj`` and
    ``w_k -= e U_jk`` for every ``k > j`` (``factor`` is ``U``). It must leave ``weight_row``
    unchanged (work on a copy): every case is run again to check that."""
    cases, labels = error_feedback_cases()
    verdict = check_exercise(
        learner_function, _error_feedback_reference, cases, "error_feedback", labels
    )
    if verdict.status != "pass":
        return verdict
    for number, (args, label) in enumerate(zip(error_feedback_cases()[0], labels), start=1):
        row = args[0].clone()
        learner_function(row, *args[1:])
        if not torch.equal(row, args[0]):
            return Verdict(
                "mismatch",
                f"error_feedback changed weight_row on input {number} of {len(cases)}, {label}: "
                "leave it unchanged and work on a copy (weight_row.clone()).",
            )
    return verdict


def check_nearest_level(learner_function: Callable) -> Verdict:
    """L6-C "Your turn": ``learner_function(values, codebook)`` returns the code (int64, the
    values' shape) of the level of ``codebook`` (sorted ascending; code i is ``codebook[i]``)
    nearest to each value; a value exactly halfway between two levels takes the even code,
    and values beyond the ends take the end codes."""
    small = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    ties = torch.tensor([-0.5, 0.25, 1.25, -0.5, 0.25])
    nf4_ties = (helper.NF4_LEVELS[1:].double() + helper.NF4_LEVELS[:-1].double()) / 2
    cases = [
        (seeded_normal(70, 200) / 2.5, helper.NF4_LEVELS),
        (torch.tensor([-0.9, -0.1, 0.3, 0.9, 1.9]), small),
        (ties, small),
        (torch.tensor([-7.0, 5.0, 100.0]), small),
        (nf4_ties.float(), helper.NF4_LEVELS),
        (seeded_normal(71, 4, 6), torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0])),
    ]
    labels = [
        "normal values against NF4's 16 levels",
        "values between the levels of a small codebook",
        "values exactly halfway between two levels (the even code wins)",
        "values beyond the ends of the codebook (the end codes)",
        "the float32 values nearest NF4's midpoints (compare exactly, in float64)",
        "a 2-D tensor (the codes keep its shape)",
    ]
    return check_exercise(
        learner_function, helper.quantize_to_levels, cases, "nearest_level", labels
    )
