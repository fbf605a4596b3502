"""Tests of the lessons past the course (L4): integer inference (W8A8), packing low-bit
weights, and quantizing a trained network with QuantizedLinear."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import helper

PROPERTY = settings(max_examples=200, deadline=None)


def signed_range(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def random_int8(seed: int, *shape: int, low: int = -128, high: int = 127) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, shape, generator=generator, dtype=torch.int8)


# --- Integer matmul and W8A8 ----------------------------------------------------------------


def w8a8_reference(q_x, s_x, z_x, q_w, s_w) -> torch.Tensor:
    """``s_x s_w (q_x - z_x) q_w^T`` in float64."""
    s_w = torch.as_tensor(s_w, dtype=torch.float64).reshape(1, -1)
    return s_x * s_w * ((q_x.double() - z_x) @ q_w.double().t())


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


@given(
    m=st.integers(1, 20),
    k=st.integers(1, 40),
    n=st.integers(1, 12),
    z_x=st.integers(-128, 127),
    s_x=st.floats(1e-4, 10.0),
    seed=st.integers(0, 2**16),
)
@PROPERTY
def test_w8a8_property_matches_reference(m, k, n, z_x, s_x, seed):
    q_x, q_w = random_int8(seed, m, k), random_int8(seed + 1, n, k)
    s_w = torch.rand(n, 1, generator=torch.Generator().manual_seed(seed)) + 1e-3
    y = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
    reference = w8a8_reference(q_x, s_x, z_x, q_w, s_w)
    torch.testing.assert_close(y.double(), reference, rtol=1e-5, atol=1e-6 * s_x)
    int32 = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w, method="int32")
    assert torch.equal(y, int32)


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


# --- Packing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 11), (64, 64)])
def test_pack_unpack_round_trip(bits, signed, shape):
    low, high = signed_range(bits) if signed else (0, 2**bits - 1)
    dtype = torch.int8 if signed else torch.uint8
    generator = torch.Generator().manual_seed(bits * 10 + len(shape))
    q = torch.randint(low, high + 1, shape, generator=generator).to(dtype)
    packed = helper.pack_weights(q, bits)
    n = q.numel()
    assert packed.dtype == torch.uint8 and packed.shape == (math.ceil(n * bits / 8),)
    assert packed.numel() == helper.packed_length(n, bits)
    restored = helper.unpack_weights(packed, bits, shape, signed=signed)
    assert restored.dtype == dtype and torch.equal(restored, q)


def test_pack_layout_first_value_in_the_lowest_bits():
    assert helper.pack_weights(torch.tensor([5, -3], dtype=torch.int8), 4).tolist() == [0xD5]
    q = torch.tensor([1, 2, 3, 0, 1], dtype=torch.uint8)
    assert helper.pack_weights(q, 2).tolist() == [0b00111001, 0b00000001]
    bits = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1], dtype=torch.uint8)
    assert helper.pack_weights(bits, 1).tolist() == [0b01001101, 1]


def test_pack_wider_integer_dtypes_and_explicit_signedness():
    q = torch.tensor([0, 15, 7, 8], dtype=torch.int64)
    packed = helper.pack_weights(q, 4, signed=False)
    assert torch.equal(helper.unpack_weights(packed, 4, (4,)), q.to(torch.uint8))
    with pytest.raises(ValueError, match="signed=False"):
        helper.pack_weights(q, 4)


@given(
    bits=st.sampled_from([1, 2, 4]),
    signed=st.booleans(),
    data=st.data(),
)
@PROPERTY
def test_pack_unpack_property(bits, signed, data):
    low, high = signed_range(bits) if signed else (0, 2**bits - 1)
    values = data.draw(st.lists(st.integers(low, high), min_size=1, max_size=70))
    q = torch.tensor(values, dtype=torch.int8 if signed else torch.uint8)
    packed = helper.pack_weights(q, bits)
    assert packed.numel() == -(-len(values) * bits // 8)
    assert torch.equal(helper.unpack_weights(packed, bits, q.shape, signed=signed), q)


@given(bits=st.sampled_from([1, 2, 4]), data=st.data())
@PROPERTY
def test_unpacking_any_bytes_and_repacking_gives_the_bytes_back(bits, data):
    raw = data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=40))
    packed = torch.tensor(raw, dtype=torch.uint8)
    n = len(raw) * 8 // bits
    for signed in (True, False):
        values = helper.unpack_weights(packed, bits, (n,), signed=signed)
        assert torch.equal(helper.pack_weights(values, bits), packed)


@pytest.mark.parametrize("bits", [0, 3, 8, -1, 2.0, True, "4", None])
def test_pack_bad_bits(bits):
    with pytest.raises(ValueError, match="bits must be 1, 2 or 4"):
        helper.pack_weights(torch.zeros(4, dtype=torch.int8), bits)
    with pytest.raises(ValueError, match="bits must be 1, 2 or 4"):
        helper.unpack_weights(torch.zeros(2, dtype=torch.uint8), bits, (4,))


@pytest.mark.parametrize(
    "values, dtype, bits",
    [
        ([8], torch.int8, 4),
        ([-9], torch.int8, 4),
        ([16], torch.uint8, 4),
        ([2], torch.int8, 2),
        ([-3], torch.int8, 2),
        ([4], torch.uint8, 2),
        ([1], torch.int8, 1),
        ([2], torch.uint8, 1),
        ([-1], torch.int64, 1),
    ],
)
def test_pack_values_out_of_range(values, dtype, bits):
    q = torch.tensor(values).to(dtype)
    with pytest.raises(ValueError, match="outside the"):
        helper.pack_weights(q, bits, signed=None if dtype != torch.int64 else False)


@pytest.mark.parametrize("q", [torch.zeros(4), torch.zeros(4, dtype=torch.bool), [1, 2]])
def test_pack_non_integer_input(q):
    with pytest.raises(TypeError, match="q must be"):
        helper.pack_weights(q, 4)


def test_pack_empty_input():
    with pytest.raises(ValueError, match="empty"):
        helper.pack_weights(torch.zeros(0, dtype=torch.int8), 4)


def test_unpack_bad_input():
    packed = helper.pack_weights(torch.zeros(10, dtype=torch.int8), 4)  # 5 bytes
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(packed, 4, (12,))
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(packed, 2, (10,))
    assert helper.unpack_weights(packed, 4, (9,)).shape == (9,)  # 9 values need 5 bytes too
    with pytest.raises(TypeError, match="uint8"):
        helper.unpack_weights(packed.to(torch.int8), 4, (10,))
    with pytest.raises(ValueError, match="shape"):
        helper.unpack_weights(packed, 4, 10)
    with pytest.raises(ValueError, match="shape"):
        helper.unpack_weights(packed, 4, (2, -5))


def test_real_storage_of_4_bit_group_32_fp16_is_4_5_bits_per_weight():
    torch.manual_seed(0)
    weight = torch.randn(256, 512)
    q, scale = helper.linear_q_symmetric_per_group(weight, 32, torch.int4)
    packed, scale16 = helper.pack_weights(q, 4), scale.to(torch.float16)
    bits = 8 * helper.tensor_bytes(packed, scale16) / weight.numel()
    assert bits == 4.5 == helper.bits_per_weight(4, 32, scale_bits=16)


# --- QuantizedLinear, quantize_model, model_bytes ---------------------------------------------


SETTINGS = [
    (bits, granularity, group_size)
    for bits in (8, 4, 3, 2)
    for granularity, group_size in (("per-tensor", None), ("per-channel", None), ("per-group", 16))
]


@pytest.mark.parametrize("bits, granularity, group_size", SETTINGS)
def test_quantized_linear_forward_equals_dequantize_then_nn_linear(bits, granularity, group_size):
    torch.manual_seed(bits)
    linear = torch.nn.Linear(48, 20)
    layer = helper.QuantizedLinear.from_linear(linear, bits, granularity, group_size)
    q = layer.int_weight()
    low, high = signed_range(bits)
    assert q.dtype == torch.int8 and q.shape == (20, 48)
    assert low <= int(q.min()) and int(q.max()) <= high
    block = helper.block_size_for((20, 48), granularity, dim=0, group_size=group_size)
    weight = helper.dequantize_blocks(q, layer.scale.float(), 0, block)
    reference = torch.nn.Linear(48, 20)
    with torch.no_grad():
        reference.weight.copy_(weight)
        reference.bias.copy_(linear.bias)
    x = torch.randn(7, 48)
    with torch.no_grad():
        assert torch.equal(layer(x), reference(x))
    assert torch.equal(layer.dequantized_weight(), weight)


@pytest.mark.parametrize("bits, granularity, group_size", SETTINGS)
def test_quantized_linear_storage(bits, granularity, group_size):
    layer = helper.QuantizedLinear.from_linear(
        torch.nn.Linear(64, 32), bits, granularity, group_size
    )
    weight_bytes = 64 * 32 * bits // 8 if bits in (1, 2, 4) else 64 * 32
    scales = {"per-tensor": 1, "per-channel": 32, "per-group": 32 * 64 // 16}[granularity]
    expected = weight_bytes + 2 * scales + 4 * 32
    assert layer.storage_bytes == layer.nbytes() == expected
    assert layer.weight_q.dtype == (torch.uint8 if bits in (1, 2, 4) else torch.int8)
    assert layer.scale.dtype == torch.float16


def test_quantized_linear_stored_scale_is_the_one_used_and_error_is_small():
    torch.manual_seed(2)
    linear = torch.nn.Linear(64, 16)
    for scale_dtype in (torch.float16, torch.float32):
        layer = helper.QuantizedLinear.from_linear(linear, 8, scale_dtype=scale_dtype)
        assert layer.scale.dtype == scale_dtype and layer.scale.shape == (16, 1)
        error = (layer.dequantized_weight() - linear.weight).abs()
        assert bool((error <= layer.scale.float() * 0.5 + 1e-7).all())


def test_quantized_linear_without_bias_and_tiny_weights():
    linear = torch.nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        linear.weight.fill_(1e-12)
        linear.weight[0] = 0.0
    layer = helper.QuantizedLinear.from_linear(linear, 4, "per-channel")
    assert layer.bias is None and bool((layer.scale > 0).all())
    assert torch.isfinite(layer(torch.ones(2, 8))).all()


def test_quantized_linear_bad_input():
    with pytest.raises(TypeError, match="nn.Linear"):
        helper.QuantizedLinear.from_linear(torch.nn.Conv1d(2, 2, 1))
    for bits in (1, 9, 4.0):
        with pytest.raises(ValueError, match="bits"):
            helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), bits)
    with pytest.raises(ValueError, match="group_size"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(12, 4), 4, "per-group", 8)
    with pytest.raises(ValueError, match="granularity"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), 4, "per-row")
    with pytest.raises(TypeError, match="scale_dtype"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), 4, scale_dtype=torch.int8)


@pytest.fixture(scope="module")
def trained():
    return helper.train_digits_mlp()


def test_trained_mlp_is_accurate_and_deterministic(trained):
    model, data = trained
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert helper.accuracy(model, data.x_test, data.y_test) > 0.95
    again = helper.digits_mlp(0)
    assert not torch.equal(again[0].weight, model[0].weight)  # trained, not the initial weights
    assert torch.equal(helper.digits_mlp(0)[0].weight, again[0].weight)  # seeded


def test_quantize_model_swaps_every_linear_and_keeps_the_original(trained):
    model, data = trained
    before = [p.clone() for p in model.parameters()]
    quantized = helper.quantize_model(model, 4, "per-group", 32)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    swapped = [m for m in quantized.modules() if isinstance(m, helper.QuantizedLinear)]
    assert len(linears) == len(swapped) == 3
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.modules())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert helper.accuracy(quantized, data.x_test, data.y_test) > 0.9
    assert helper.accuracy(
        helper.quantize_model(model, 8, "per-channel"), data.x_test, data.y_test
    ) == (pytest.approx(helper.accuracy(model, data.x_test, data.y_test), abs=0.01))


def test_quantize_model_of_a_bare_linear():
    layer = helper.quantize_model(torch.nn.Linear(8, 2), 8, "per-tensor")
    assert isinstance(layer, helper.QuantizedLinear)
    with pytest.raises(TypeError, match="model"):
        helper.quantize_model("model", 8, "per-tensor")


def test_model_bytes(trained):
    model, _ = trained
    n_parameters = sum(p.numel() for p in model.parameters())
    assert n_parameters == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert helper.model_bytes(model) == 4 * n_parameters
    quantized = helper.quantize_model(model, 4, "per-channel")
    weights = 64 * 128 + 128 * 64 + 64 * 10
    scales, biases = 128 + 64 + 10, 128 + 64 + 10
    assert helper.model_bytes(quantized) == weights // 2 + 2 * scales + 4 * biases
    tied = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False))
    tied.append(tied[0])  # the same layer twice: counted once
    assert helper.model_bytes(tied) == 64
    with pytest.raises(TypeError, match="model"):
        helper.model_bytes(torch.zeros(3))


# --- Checkers and figures -------------------------------------------------------------------


def test_checkers_say_not_done_yet_and_accept_the_reference():
    def stub(*args):
        raise NotImplementedError

    for check in (helper.check_w8a8_per_token, helper.check_pack_2bit, helper.check_to_linear):
        assert check(stub).status == "not done yet"

    def per_token(q_x, s_x, z_x, q_w, s_w):
        accumulator = q_x.int() @ q_w.int().t() - z_x * q_w.int().sum(dim=1)
        return accumulator.float() * (s_x * s_w.t())

    def to_linear(layer):
        linear = torch.nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            linear.weight.copy_(layer.dequantized_weight())
            linear.bias.copy_(layer.bias)
        return linear

    assert helper.check_w8a8_per_token(per_token)
    assert helper.check_pack_2bit(lambda q: helper.pack_weights(q, 2))
    assert helper.check_to_linear(to_linear)
    assert not helper.check_pack_2bit(lambda q: helper.pack_weights(q.to(torch.int8) % 2, 2))


def test_l4_figures_are_figures():
    import matplotlib.figure

    for figure in (helper.figure_l4_bit_packing, helper.figure_l4_w8a8_pipeline):
        assert isinstance(figure(), matplotlib.figure.Figure)


def test_training_does_not_depend_on_the_thread_count(trained):
    model, _ = trained
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        again, _ = helper.train_digits_mlp()
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


# --- Widgets ----------------------------------------------------------------------------------


def test_explore_w8a8_outlier_stretches_the_activation_scale():
    import matplotlib.figure

    explorer = helper.explore_w8a8()
    assert set(explorer.controls) == {"bits", "outlier"}
    before = dict(explorer.readout)
    assert before["mse_of_W8A32"] <= before["mse"] < 1e-3
    explorer.controls["outlier"].value = 30.0
    assert explorer.readout["activation_scale"] > 10 * before["activation_scale"]
    assert explorer.readout["mse"] > 10 * before["mse"]
    explorer.controls["bits"].value = 4
    assert explorer.readout["activations"] == "int4"
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="share k"):
        helper.explore_w8a8(torch.randn(4, 8), torch.randn(3, 9))


def test_explore_storage_measures_real_bytes():
    explorer = helper.explore_storage()
    assert set(explorer.controls) == {"bits", "group_size", "scale_bits"}
    assert explorer.readout["bits_per_weight"] == explorer.readout["ideal_bits"] == 4.5
    explorer.controls["bits"].value = 3  # not packed: an int8 container per value
    assert explorer.readout["bits_per_weight"] == 8.5 and explorer.readout["ideal_bits"] == 3.5
    explorer.controls["scale_bits"].value = 32
    explorer.controls["bits"].value = 2
    explorer.controls["group_size"].value = 64
    assert explorer.readout["bits_per_weight"] == 2.5 == helper.bits_per_weight(2, 64, 32)
    with pytest.raises(ValueError, match="group_size"):
        helper.explore_storage(group_size=48)


def test_explore_trained_network(trained):
    import matplotlib.figure

    model, data = trained
    explorer = helper.explore_trained_network(model, data, bits=8)
    assert set(explorer.controls) == {"bits", "granularity", "group_size"}
    assert explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] == pytest.approx(
        explorer.readout["fp32_accuracy"], abs=0.01
    )
    assert explorer.readout["fp32_bytes"] == helper.model_bytes(model)
    explorer.controls["bits"].value = 2
    explorer.controls["granularity"].value = "per-tensor"
    wrong = explorer.readout["misclassified"]
    accuracy = 1 - wrong / len(data.y_test)
    assert explorer.readout["accuracy"] == pytest.approx(accuracy)
    expected = helper.quantize_model(model, 2, "per-tensor")
    assert explorer.readout["model_bytes"] == helper.model_bytes(expected)
    assert explorer.readout["accuracy"] == helper.accuracy(expected, data.x_test, data.y_test)
    explorer.controls["granularity"].value = "per-group"
    assert not explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] > accuracy
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)


def test_explore_trained_network_updates_quickly(trained):
    import statistics
    import time

    model, data = trained
    explorer = helper.explore_trained_network(model, data)
    times = []
    for bits in (8, 3, 2, 8, 3, 2):  # the second round hits the cache
        start = time.perf_counter()
        explorer.controls["bits"].value = bits
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.5  # about 0.03 s on an idle 2-core machine


def test_digits_are_scikit_learns_bundled_digits():
    from sklearn.datasets import load_digits

    digits, data = load_digits(), helper.load_digits_data()
    pixels = torch.cat([data.x_test, data.x_train])
    labels = torch.cat([data.y_test, data.y_train])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    expected = torch.tensor(digits.data, dtype=torch.float32)[order] / 16
    assert torch.equal(pixels, expected)
    assert torch.equal(labels, torch.tensor(digits.target)[order])
    assert len(data.y_test) == 360 and len(data.y_train) == 1437
