"""answer_key.l4a_integer_inference (L4-A): int8 matmul with int32 accumulation, and W8A8."""

import pytest
import torch
from conftest import random_int8, w8a8_reference

import helper

SIZES = [(1, 1, 1), (1, 1, 5), (4, 1, 3), (1, 7, 1), (3, 5, 7), (16, 16, 8), (17, 32, 24)]


@pytest.mark.parametrize("m, k, n", [*SIZES, (33, 12, 9), (2, 300, 3)])
def test_int_mm_applies_to_any_size_on_cpu_and_equals_the_int32_matmul(m, k, n):
    """torch 2.13's CPU _int_mm has no size rule (CUDA's m > 16, k and n multiples of 8)."""
    a, b = random_int8(m * 100 + k, m, k), random_int8(n, n, k)
    assert helper.int_mm_supported(a, b)
    via_int_mm = helper.int8_matmul(a, b, method="int_mm")
    via_int32 = helper.int8_matmul(a, b, method="int32")
    assert via_int_mm.dtype == via_int32.dtype == torch.int32
    assert torch.equal(via_int_mm, via_int32)
    assert torch.equal(via_int32, (a.long() @ b.long().t()).int())


@pytest.mark.parametrize("m, k, n", SIZES)
def test_int_mm_path_is_right_whatever_the_strides(m, k, n):
    """The CPU kernel reads leading dimensions from strides: k = 1, or a size-1 axis with
    stride 0, gave uninitialised memory before int8_matmul handed it row-major copies."""
    a, b = random_int8(m + 7, m, k), random_int8(n + 8, n, k)
    expected = a.int() @ b.int().t()
    variants = [(a, b), (a.t().contiguous().t(), b), (a, b.t().contiguous().t())]
    variants += [(a[:1].expand(m, k), b[:1].expand(n, k))]
    variants += [(a.as_strided(a.shape, (0 if m == 1 else k, 1)), b)]
    variants += [(a, b.as_strided(b.shape, (0 if n == 1 else k, 1)))]
    for left, right in variants:
        reference = left.int() @ right.int().t()
        assert torch.equal(helper.int8_matmul(left, right, "int_mm"), reference)
    assert torch.equal(helper.int8_matmul(a, b, "int_mm"), expected)


def test_int_mm_is_not_used_on_what_it_does_not_take():
    a = random_int8(0, 4, 8)
    assert not helper.int_mm_supported(a.int(), a.int())
    assert not helper.int_mm_supported(a[None], a[None])


@pytest.mark.parametrize("granularity", ["per-tensor", "per-channel"])
@pytest.mark.parametrize("method", ["auto", "int_mm", "int32"])
def test_w8a8_equals_the_float64_reference(granularity, method):
    torch.manual_seed(0)
    x = torch.randn(20, 48).relu() + 0.05
    w = torch.randn(12, 48) * 0.1
    q_x, s_x, z_x = helper.linear_quantization(x)
    if granularity == "per-tensor":
        q_w, s_w = helper.linear_q_symmetric(w)
    else:
        q_w, s_w = helper.linear_q_symmetric_per_channel(w, dim=0)
    assert z_x != 0  # the zero-point correction is exercised
    y = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w, method=method)
    assert y.dtype == torch.float32 and y.shape == (20, 12)
    torch.testing.assert_close(y.double(), w8a8_reference(q_x, s_x, z_x, q_w, s_w))


def test_w8a8_int_mm_path_equals_int32_fallback_exactly():
    q_x, q_w = random_int8(1, 40, 64), random_int8(2, 24, 64)
    s_w = torch.rand(24, 1, generator=torch.Generator().manual_seed(3)) + 0.01
    fast = helper.quantized_linear_W8A8_without_bias(q_x, 0.02, -7, q_w, s_w, method="int_mm")
    slow = helper.quantized_linear_W8A8_without_bias(q_x, 0.02, -7, q_w, s_w, method="int32")
    assert torch.equal(fast, slow)


def test_w8a8_with_precomputed_row_sums():
    q_x, q_w = random_int8(6, 5, 16), random_int8(7, 4, 16)
    row_sums = q_w.sum(dim=1, dtype=torch.int32)
    y = helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02, w_row_sums=row_sums)
    assert torch.equal(y, helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02))
    for bad in (row_sums[:3], row_sums.long(), row_sums.tolist()):
        with pytest.raises(ValueError, match="w_row_sums"):
            helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02, w_row_sums=bad)


def test_w8a8_keeps_leading_batch_axes():
    q_x, q_w = random_int8(4, 2, 3, 16), random_int8(5, 8, 16)
    y = helper.quantized_linear_W8A8_without_bias(q_x, 0.1, 3, q_w, 0.05)
    flat = helper.quantized_linear_W8A8_without_bias(q_x.reshape(6, 16), 0.1, 3, q_w, 0.05)
    assert y.shape == (2, 3, 8) and torch.equal(y.reshape(6, 8), flat)


def test_w8a8_is_close_to_w8a32_and_fp32():
    torch.manual_seed(1)
    x, w = torch.randn(32, 64), torch.randn(16, 64) * 0.1
    q_x, s_x, z_x = helper.linear_quantization(x)
    q_w, s_w = helper.linear_q_symmetric_per_channel(w, dim=0)
    w8a8 = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
    w8a32 = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
    fp32 = x @ w.t()
    assert helper.quantization_error(fp32, w8a32) < helper.quantization_error(fp32, w8a8) < 1e-3


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"q_x": torch.zeros(2, 4)}, TypeError, "q_x"),
        ({"q_x": torch.zeros(2, 4, dtype=torch.uint8)}, TypeError, "q_x"),
        ({"q_w": torch.zeros(3, 4, dtype=torch.int32)}, TypeError, "q_w"),
        ({"q_w": [[1, 2, 3, 4]]}, TypeError, "q_w"),
        ({"q_w": torch.zeros(3, 5, dtype=torch.int8)}, ValueError, "shapes"),
        ({"q_w": torch.zeros(4, dtype=torch.int8)}, ValueError, "shapes"),
        ({"s_x": 0.0}, ValueError, "scale"),
        ({"s_x": -1.0}, ValueError, "scale"),
        ({"s_x": float("nan")}, ValueError, "scale"),
        ({"s_x": "0.1"}, TypeError, "scale"),
        ({"s_x": torch.ones(2)}, ValueError, "s_x"),
        ({"z_x": 200}, ValueError, "z_x"),
        ({"z_x": 0.5}, ValueError, "zero_point"),
        ({"s_w": torch.ones(2, 1)}, ValueError, "s_w"),
        ({"s_w": torch.tensor([[0.1], [0.0], [0.1]])}, ValueError, "scale"),
        ({"s_w": torch.ones(3, 1, dtype=torch.int32)}, TypeError, "scale"),
        ({"method": "fast"}, ValueError, "method"),
    ],
)
def test_w8a8_bad_input(change, error, words):
    arguments = {
        "q_x": torch.zeros(2, 4, dtype=torch.int8),
        "s_x": 0.1,
        "z_x": 0,
        "q_w": torch.zeros(3, 4, dtype=torch.int8),
        "s_w": torch.ones(3, 1),
    } | change
    method = arguments.pop("method", "auto")
    with pytest.raises(error, match=words):
        helper.quantized_linear_W8A8_without_bias(**arguments, method=method)


def test_int8_matmul_bad_input():
    a = torch.zeros(2, 4, dtype=torch.int8)
    with pytest.raises(TypeError, match="b must be an int8"):
        helper.int8_matmul(a, a.float())
    with pytest.raises(ValueError, match="2-D"):
        helper.int8_matmul(a[0], a)
    with pytest.raises(ValueError, match="columns"):
        helper.int8_matmul(a, a[:, :3])
    with pytest.raises(ValueError, match="_int_mm does not apply"):
        helper.int8_matmul(a, a.cuda() if torch.cuda.is_available() else a.to("meta"), "int_mm")


def test_int16_accumulator_overflows_after_one_worst_case_product():
    """Why int32: two int8 products of 16384 already wrap in int16."""
    assert torch.iinfo(torch.int16).max // helper.INT8_PRODUCT_MAX == 1
    assert torch.iinfo(torch.int32).max // helper.INT8_PRODUCT_MAX == 131071
    products = torch.full((2,), helper.INT8_PRODUCT_MAX, dtype=torch.int16)
    assert products.sum(dtype=torch.int16).item() == -32768
