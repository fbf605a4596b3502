"""answer_key.basics: the integer data types and their ranges, and the argument checks: bad
input to any function of the answer key raises a clear TypeError or ValueError naming it."""

import math

import numpy as np
import pytest
import torch
from conftest import ROOT

import helper


@pytest.mark.parametrize(
    ("dtype", "expected", "container"),
    [
        (torch.int8, (-128, 127), torch.int8),
        (torch.uint8, (0, 255), torch.uint8),
        (torch.int16, (-32768, 32767), torch.int16),
        (torch.int32, (-(2**31), 2**31 - 1), torch.int32),
        (torch.int4, (-8, 7), torch.int8),
        (torch.uint4, (0, 15), torch.uint8),
        (torch.int3, (-4, 3), torch.int8),
        (torch.uint3, (0, 7), torch.uint8),
        (torch.int2, (-2, 1), torch.int8),
        (torch.uint2, (0, 3), torch.uint8),
        (torch.int1, (-1, 0), torch.int8),
        (torch.uint1, (0, 1), torch.uint8),
    ],
)
def test_dtype_ranges_and_containers(dtype, expected, container):
    assert helper.q_range(dtype) == expected
    assert helper.storage_dtype(dtype) == container
    torch.manual_seed(0)
    q, _, _ = helper.linear_quantization(torch.randn(8, 8), dtype)
    assert q.dtype == container
    assert expected[0] <= int(q.min()) and int(q.max()) <= expected[1]


def test_dtype_bits_and_integer_dtype():
    assert helper.dtype_bits(torch.int8) == 8
    assert helper.dtype_bits(torch.uint4) == 4
    assert helper.integer_dtype(4) is torch.int4
    assert helper.integer_dtype(8, signed=False) is torch.uint8
    with pytest.raises(ValueError, match="bits"):
        helper.integer_dtype(0)


BAD_CALLS = [
    (lambda: helper.linear_quantization([1.0, 2.0]), TypeError, "tensor must be a torch.Tensor"),
    (lambda: helper.linear_quantization(torch.tensor([1, 2])), TypeError, "floating-point"),
    (lambda: helper.linear_quantization(torch.empty(0)), ValueError, "empty"),
    (lambda: helper.linear_quantization(torch.tensor([1.0, math.nan])), ValueError, "NaN"),
    (lambda: helper.linear_quantization(torch.tensor([1.0, math.inf])), ValueError, "infinite"),
    (lambda: helper.linear_q_symmetric(torch.tensor([-math.inf])), ValueError, "infinite"),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.tensor([math.nan]), 1.0, 0),
        ValueError,
        "NaN",
    ),
    (lambda: helper.linear_quantization(torch.ones(2), torch.float32), TypeError, "dtype"),
    (lambda: helper.linear_quantization(torch.ones(2), torch.bool), TypeError, "dtype"),
    (lambda: helper.linear_quantization(torch.ones(2), "int8"), TypeError, "dtype"),
    (lambda: helper.linear_q_symmetric(torch.ones(2), torch.uint8), ValueError, "signed"),
    (lambda: helper.linear_q_symmetric(torch.ones(2), torch.int1), ValueError, "2 bits"),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), 0.0, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), -1.0, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), math.nan, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), "1", 0),
        TypeError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), 1.0, 0.5),
        ValueError,
        "zero_point",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2, 3), torch.ones(2), 0),
        ValueError,
        "scale of shape",
    ),
    (
        lambda: helper.linear_dequantization(
            torch.ones(2, dtype=torch.int8), torch.tensor([0.0]), 0
        ),
        ValueError,
        "scale",
    ),
    (lambda: helper.linear_dequantization(torch.ones(2), 1.0, 0), TypeError, "quantized_tensor"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=2), IndexError, "dim"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=-3), IndexError, "dim"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=0.0), TypeError, "dim"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 4), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 0), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 2.0), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), True), ValueError, "group_size"),
    (
        lambda: helper.linear_dequantization_per_group(
            torch.ones(2, 6, dtype=torch.int8), torch.ones(3), 3
        ),
        ValueError,
        "scale has 3 values",
    ),
    (
        lambda: helper.linear_dequantization_per_group(
            torch.ones(2, 6, dtype=torch.int8), torch.ones(4), 4
        ),
        ValueError,
        "group_size",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.int8), 1.0, 0
        ),
        TypeError,
        "input must be a float32",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 2), torch.ones(3, 2, dtype=torch.int16), 1.0, 0
        ),
        TypeError,
        "q_w must be an int8",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 4), torch.ones(3, 2, dtype=torch.int8), 1.0, 0
        ),
        ValueError,
        "shapes do not match",
    ),
    (
        lambda: helper.quantization_error(torch.ones(2), np.ones(2)),
        TypeError,
        "same kind",
    ),
    (lambda: helper.quantization_error([1.0], [1.0]), TypeError, "NumPy"),
    (lambda: helper.quantization_error(torch.ones(2), torch.ones(3)), ValueError, "shapes"),
    (
        lambda: helper.quantization_error(torch.ones(2), torch.ones(2), "rmse"),
        ValueError,
        "error_type",
    ),
    (
        lambda: helper.quantize_blocks(torch.ones(4, 4), (3, 4)),
        ValueError,
        "block_size",
    ),
    (
        lambda: helper.quantize_blocks(torch.ones(4, 4), (4, 4), mode="signed"),
        ValueError,
        "mode",
    ),
    (lambda: helper.block_size_for((4, 4), "per-row"), ValueError, "granularity"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_no_assert_statements_in_the_answer_key():
    import ast

    for path in [ROOT / "helper.py", *sorted((ROOT / "answer_key").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.Assert)], path.name
