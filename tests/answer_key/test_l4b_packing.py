"""answer_key.l4b_packing (L4-B): packing low-bit values into bytes and back."""

import math

import pytest
import torch
from conftest import signed_range

import helper


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


def test_unpack_a_shape_with_a_0_in_it():
    """No values need no bytes: an empty packed tensor unpacks to any shape holding a 0."""
    empty = torch.zeros(0, dtype=torch.uint8)
    for bits in (1, 2, 4):
        for shape in ((0,), (0, 8), (8, 0)):
            for signed in (False, True):
                values = helper.unpack_weights(empty, bits, shape, signed=signed)
                assert values.shape == shape
                assert values.dtype == (torch.int8 if signed else torch.uint8)
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(torch.zeros(1, dtype=torch.uint8), 4, (0, 8))
