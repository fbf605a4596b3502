"""Properties of helper's quantization that hold for any input (hypothesis)."""

import torch
from conftest import PROPERTY, random_int8, signed_range, w8a8_reference
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import helper


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


SIGNED = [torch.int8, torch.int4, torch.int3, torch.int2]


ANY_DTYPE = [*SIGNED, torch.uint8, torch.uint4, torch.uint2, torch.uint1, torch.int16]


finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def matrices(draw, max_side=8, group_sizes=False):
    """A float32 matrix of modest values; with ``group_sizes``, also a divisor of its width."""
    rows = draw(st.integers(1, max_side))
    group = draw(st.integers(1, 4)) if group_sizes else 1
    cols = group * draw(st.integers(1, max_side))
    array = draw(arrays("float32", (rows, cols), elements=finite))
    tensor = torch.from_numpy(array)
    return (tensor, group) if group_sizes else tensor


def _bound(scale, tensor: torch.Tensor) -> torch.Tensor:
    """Half a step, with room for float32 rounding of r / s and of r' itself: a float32 r' of
    size |r| is only exact to about |r| * 2**-23 (the ulp), which matters for int16's small
    steps (10000 with s = 0.305 comes back 0.1533 away, s / 2 = 0.1526)."""
    ulp = torch.finfo(torch.float32).eps * tensor.abs()
    return torch.as_tensor(scale) / 2 * (1 + 1e-4) + 1e-6 + ulp


@PROPERTY
@given(matrices(), st.sampled_from(ANY_DTYPE))
def test_asymmetric_values_in_range_and_error_at_most_half_a_step(tensor, dtype):
    q, scale, zero_point = helper.linear_quantization(tensor, dtype)
    q_min, q_max = helper.q_range(dtype)
    assert q.dtype == helper.storage_dtype(dtype) and q.shape == tensor.shape
    assert q_min <= int(q.min()) and int(q.max()) <= q_max
    error = (helper.linear_dequantization(q, scale, zero_point) - tensor).abs()
    assert bool((error <= _bound(scale, tensor)).all())


@PROPERTY
@given(matrices(), st.sampled_from(SIGNED))
def test_symmetric_error_at_most_half_a_step(tensor, dtype):
    q, scale = helper.linear_q_symmetric(tensor, dtype)
    _q_min, q_max = helper.q_range(dtype)
    assert -q_max <= int(q.min()) and int(q.max()) <= q_max
    error = (helper.linear_dequantization(q, scale, 0) - tensor).abs()
    assert bool((error <= _bound(scale, tensor)).all())


@PROPERTY
@given(matrices(), st.sampled_from(ANY_DTYPE), st.booleans())
def test_zero_is_exact(tensor, dtype, symmetric):
    tensor = tensor.clone()
    tensor[0, 0] = 0.0
    if symmetric and dtype in SIGNED:
        q, scale = helper.linear_q_symmetric(tensor, dtype)
        dequantized = helper.linear_dequantization(q, scale, 0)
    else:
        q, scale, zero_point = helper.linear_quantization(tensor, dtype)
        dequantized = helper.linear_dequantization(q, scale, zero_point)
    assert dequantized[0, 0].item() == 0.0


@PROPERTY
@given(matrices(), st.sampled_from(ANY_DTYPE))
def test_quantizing_a_dequantized_tensor_gives_it_back(tensor, dtype):
    q, scale, zero_point = helper.linear_quantization(tensor, dtype)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    again = helper.linear_q_with_scale_and_zero_point(dequantized, scale, zero_point, dtype)
    assert torch.equal(again, q)


@PROPERTY
@given(matrices(group_sizes=True), st.sampled_from(SIGNED))
def test_per_group_round_trip_is_stable(tensor_and_group, dtype):
    tensor, group = tensor_and_group
    q, scale = helper.linear_q_symmetric_per_group(tensor, group, dtype)
    dequantized = helper.linear_dequantization_per_group(q, scale, group)
    block = helper.block_size_for(tensor.shape, "per-group", group_size=group)
    scale_view = scale.reshape(*tensor.shape[:-1], -1, 1)
    again = helper.linear_q_with_scale_and_zero_point(
        dequantized.reshape(*tensor.shape[:-1], -1, group), scale_view, 0, dtype
    ).reshape(tensor.shape)
    assert torch.equal(again, q)
    assert helper.dequantize_blocks(q, scale, 0, block).equal(dequantized)


@PROPERTY
@given(matrices(), st.sampled_from(SIGNED))
def test_per_channel_with_one_channel_equals_per_tensor(tensor, dtype):
    row = tensor[:1]
    q_channel, scale_channel = helper.linear_q_symmetric_per_channel(row, dim=0, dtype=dtype)
    q_tensor, scale_tensor = helper.linear_q_symmetric(row, dtype)
    assert torch.equal(q_channel, q_tensor)
    assert scale_channel.item() == torch.tensor(scale_tensor, dtype=torch.float32).item()


@PROPERTY
@given(matrices(), st.sampled_from(SIGNED))
def test_per_group_with_whole_rows_equals_per_channel_along_rows(tensor, dtype):
    q_group, scale_group = helper.linear_q_symmetric_per_group(tensor, tensor.shape[1], dtype)
    q_channel, scale_channel = helper.linear_q_symmetric_per_channel(tensor, dim=0, dtype=dtype)
    assert torch.equal(q_group, q_channel)
    assert torch.equal(scale_group, scale_channel)


def _worst_case(scale: torch.Tensor, block_max: torch.Tensor) -> torch.Tensor:
    """The worst-case error of a block, s/2, or 0 where the block is all zeros (exact)."""
    return torch.where(block_max > 0, scale / 2, torch.zeros_like(scale))


@PROPERTY
@given(matrices(group_sizes=True), st.sampled_from(SIGNED))
def test_finer_granularity_never_has_a_larger_worst_case_bound(tensor_and_group, dtype):
    """Worst-case error bound: per-tensor >= per-channel (rows) >= per-group, block by block."""
    tensor, group = tensor_and_group
    rows = tensor.shape[0]
    magnitude = tensor.abs()
    per_tensor = _worst_case(
        torch.tensor(helper.get_q_scale_symmetric(tensor, dtype), dtype=torch.float32),
        magnitude.max(),
    )
    _, row_scale = helper.linear_q_symmetric_per_channel(tensor, dim=0, dtype=dtype)
    per_row = _worst_case(row_scale, magnitude.amax(dim=1, keepdim=True))
    _, group_scale = helper.linear_q_symmetric_per_group(tensor, group, dtype)
    per_group = _worst_case(group_scale, magnitude.reshape(rows, -1, group).amax(dim=-1))
    assert bool((per_row <= per_tensor).all())
    assert bool((per_group <= per_row).all())


@PROPERTY
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=4).flatmap(
        lambda shape: arrays("float32", shape, elements=finite)
    ),
    st.sampled_from(["per-tensor", "per-channel", "per-group"]),
    st.sampled_from([*SIGNED, torch.uint8, torch.uint4]),
    st.sampled_from(["symmetric", "asymmetric"]),
    st.integers(0, 3),
)
def test_any_granularity_preserves_shape_and_dtype(array, granularity, dtype, mode, dim):
    tensor = torch.from_numpy(array)
    if mode == "symmetric" and dtype not in SIGNED:
        mode = "asymmetric"
    block = helper.block_size_for(
        tensor.shape, granularity, dim=dim % tensor.dim(), group_size=tensor.shape[-1]
    )
    q, scale, zero_point = helper.quantize_blocks(tensor, block, dtype, mode)
    assert q.shape == tensor.shape and q.dtype == helper.storage_dtype(dtype)
    assert scale.dtype == torch.float32 and zero_point.dtype == torch.int32
    dequantized = helper.dequantize_blocks(q, scale, zero_point, block)
    assert dequantized.shape == tensor.shape and dequantized.dtype == torch.float32
    grid = [size // b for size, b in zip(tensor.shape, block)]
    assert list(scale.shape) == grid
    error = (dequantized - tensor).abs()
    bound = scale
    for axis, b in enumerate(block):
        bound = bound.repeat_interleave(b, dim=axis)
    assert bool((error <= _bound(bound, tensor)).all())
