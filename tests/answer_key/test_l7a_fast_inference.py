"""answer_key.l7a_fast_inference (L7-A): the roofline's formulas, the int4 kernel's
layout, and pack_linear against the course's own quantization and torch's kernels."""

import subprocess
import sys
import warnings

import pytest
import torch
from conftest import ROOT

import helper
from answer_key import l7a_fast_inference


def seeded_layer(in_features: int, out_features: int, seed: int = 0, bias: bool = True):
    generator = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(in_features, out_features, bias=bias)
    layer.weight.data = torch.randn(out_features, in_features, generator=generator) / 8
    if bias:
        layer.bias.data = torch.randn(out_features, generator=generator)
    return layer


# --- The roofline ---------------------------------------------------------------------------------


def test_linear_flops_counts_a_multiply_and_an_add_per_weight_and_row():
    assert helper.linear_flops(1, 4096, 4096) == 2 * 4096 * 4096
    assert helper.linear_flops(16, 3, 5) == 16 * 2 * 15


def test_roofline_is_the_slower_of_memory_and_arithmetic():
    assert helper.roofline_seconds(1e9, 1e6, 1e10, 1e11) == pytest.approx(0.1)  # memory
    assert helper.roofline_seconds(1e3, 1e12, 1e10, 1e11) == pytest.approx(10.0)  # arithmetic
    with pytest.raises(ValueError, match="bandwidth"):
        helper.roofline_seconds(1, 1, 0, 1)


# --- The int4 kernel's layout ----------------------------------------------------------------------


def random_int4(rows: int, columns: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 8, (rows, columns), generator=generator, dtype=torch.int8)


@pytest.mark.parametrize("rows", [16, 32, 48, 64, 96, 112, 128, 208])
def test_int4_layout_is_torchs_on_this_machine(rows):
    """Whole blocks and a shorter last one (16, 48, 112, 208 rows leave one)."""
    q = random_int4(rows, 64, seed=rows)
    expected = torch.ops.aten._convert_weight_to_int4pack_for_cpu((q + 8).int(), 1)
    assert torch.equal(helper.pack_int4_for_cpu(q), expected)


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_int4_layout_is_torchs_under_other_instruction_sets(capability):
    """torch picks its kernels at start-up: a fresh interpreter plays the other machine."""
    code = (
        "import torch, helper\n"
        "g = torch.Generator().manual_seed(0)\n"
        "q = torch.randint(-8, 8, (208, 64), generator=g, dtype=torch.int8)\n"
        "t = torch.ops.aten._convert_weight_to_int4pack_for_cpu((q + 8).int(), 1)\n"
        "print(torch.backends.cpu.get_cpu_capability(), torch.equal(helper.pack_int4_for_cpu(q), t))"
    )
    env = {"ATEN_CPU_CAPABILITY": capability, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    assert result.stdout.split() == [capability.upper(), "True"]


def test_avx2_layout_pairs_row_d_with_row_d_plus_16():
    q = (torch.arange(32) % 16 - 8).to(torch.int8).reshape(32, 1).repeat(1, 2)
    packed = helper.pack_int4_for_cpu(q, "AVX2").reshape(-1)
    # u = row % 16: row d (low nibble) and row d + 16 (high) hold the same u
    assert packed[:16].tolist() == [u | u << 4 for u in range(16)]
    assert helper.int4_block_rows("AVX2") == helper.int4_block_rows("DEFAULT") == 32
    assert helper.int4_block_rows("AVX512") == 64


def test_default_layout_pairs_neighbouring_rows():
    q = (torch.arange(32) % 16 - 8).to(torch.int8).reshape(32, 1).repeat(1, 2)
    packed = helper.pack_int4_for_cpu(q, "DEFAULT").reshape(-1)
    assert packed[:8].tolist() == [(2 * i) | (2 * i + 1) << 4 for i in range(8)]


@pytest.mark.parametrize(
    ("q", "error", "match"),
    [
        ([[1, 2]], TypeError, "q must be a 2-D torch.int8"),
        (torch.zeros(32, 4, dtype=torch.int32), TypeError, "q must be a 2-D torch.int8"),
        (torch.zeros(24, 4, dtype=torch.int8), ValueError, "multiple of 16 rows"),
        (torch.zeros(32, 3, dtype=torch.int8), ValueError, "even number of columns"),
        (torch.full((32, 4), 8, dtype=torch.int8), ValueError, r"4-bit values in \[-8, 7\]"),
    ],
)
def test_pack_int4_refuses_bad_input_clearly(q, error, match):
    with pytest.raises(error, match=match):
        helper.pack_int4_for_cpu(q)


# --- pack_linear ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "group_size", "granularity"),
    [(8, None, "per-channel"), (4, None, "per-group"), (4, 64, "per-group"), (4, 128, "per-group")],
)
def test_integers_and_scales_are_the_course_own(bits, group_size, granularity):
    layer = seeded_layer(256, 80)
    packed = helper.pack_linear(layer, bits, group_size)
    expected_group = 32 if bits == 4 and group_size is None else group_size
    q, scale = helper.quantize_weight_symmetric(
        layer.weight.detach(), bits, granularity, expected_group, torch.bfloat16
    )
    assert packed.uses_kernel
    assert torch.equal(packed.int_weight(), q)
    assert torch.equal(packed.scales(), scale)


@pytest.mark.parametrize(("bits", "group_size"), [(8, None), (4, 32), (4, 256)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_forward_is_dequantize_then_matmul_up_to_bfloat16(bits, group_size, dtype):
    layer = seeded_layer(256, 64)
    packed = helper.pack_linear(layer, bits, group_size)
    granularity = "per-channel" if bits == 8 else "per-group"
    slow = helper.QuantizedLinear.from_linear(layer, bits, granularity, group_size, torch.bfloat16)
    x = torch.randn(3, 5, 256, generator=torch.Generator().manual_seed(1))
    y = packed(x.to(dtype))
    expected = slow(x)
    assert y.dtype == dtype and y.shape == (3, 5, 64)
    # bfloat16 keeps 8 significant bits: the input and the output are each rounded once
    assert float((y.float() - expected).norm() / expected.norm()) < 1e-2


def test_forward_rounds_only_the_input_to_bfloat16():
    """With an input that bfloat16 holds exactly, the kernel is the exact product, rounded to
    bfloat16 once (its output dtype)."""
    layer = seeded_layer(64, 16, bias=False)
    packed = helper.pack_linear(layer, 8)
    x = torch.randint(-4, 5, (2, 64), generator=torch.Generator().manual_seed(2)).float()
    exact = x.double() @ (packed.int_weight().double() * packed.scales().double()).T
    assert torch.allclose(packed(x).double(), exact, rtol=2**-8, atol=0)


def test_pack_model_packs_every_linear_layer_and_leaves_the_model_alone():
    model = torch.nn.Sequential(seeded_layer(64, 32), torch.nn.ReLU(), seeded_layer(32, 16, 1))
    packed = helper.pack_model(model, 4)
    kinds = [type(m).__name__ for m in packed]
    assert kinds == ["PackedLinear", "ReLU", "PackedLinear"]
    assert all(isinstance(m, (torch.nn.Linear, torch.nn.ReLU)) for m in model)
    assert helper.model_bytes(packed) < helper.model_bytes(model) / 4


def test_storage_bytes_count_weights_scales_zeros_and_bias():
    layer = seeded_layer(4096, 64)
    eight, four = helper.pack_linear(layer, 8), helper.pack_linear(layer, 4)
    assert eight.storage_bytes == 64 * 4096 + 64 * 2 + 64 * 4
    # half a byte a weight, a bfloat16 scale and zero per group of 32, the float32 bias
    assert four.storage_bytes == 64 * 4096 // 2 + 2 * 2 * 64 * 4096 // 32 + 64 * 4
    assert helper.model_bytes(four) == four.storage_bytes


@pytest.mark.parametrize(
    ("layer", "bits", "group_size", "error", "match"),
    [
        ("not a layer", 8, None, TypeError, "layer must be a torch.nn.Linear"),
        (None, 6, None, ValueError, "bits must be 8 or 4"),
        (None, True, None, ValueError, "bits must be 8 or 4"),
        (None, 8, 32, ValueError, "group_size must be None for 8 bits"),
        (None, 4, 16, ValueError, "group_size must be 32, 64, 128 or 256"),
        (None, 4, 512, ValueError, "group_size must be 32, 64, 128 or 256"),
        (seeded_layer(48, 32), 4, 32, ValueError, "in_features to be a multiple of group_size"),
        (seeded_layer(64, 24), 4, 32, ValueError, "out_features a multiple of 16"),
        (seeded_layer(72, 16), 8, None, ValueError, "in_features to be a multiple of 32"),
    ],
)
def test_pack_linear_refuses_what_the_kernels_cannot_take(layer, bits, group_size, error, match):
    layer = seeded_layer(64, 32) if layer is None else layer
    with pytest.raises(error, match=match):
        helper.pack_linear(layer, bits, group_size)


def test_pack_linear_refuses_a_weight_on_a_device_without_the_kernel():
    layer = seeded_layer(64, 32).to("meta")
    with pytest.raises(ValueError, match="on meta: these are torch's CPU kernels"):
        helper.pack_linear(layer, 8)


def test_forward_refuses_an_input_of_the_wrong_width():
    packed = helper.pack_linear(seeded_layer(64, 32), 8)
    with pytest.raises(ValueError, match="in_features = 64"):
        packed(torch.randn(2, 32))


@pytest.mark.parametrize("bits", [8, 4])
def test_without_a_kernel_it_falls_back_and_says_so_once(monkeypatch, bits):
    monkeypatch.setattr(l7a_fast_inference, "packed_kernel_available", lambda bits: False)
    monkeypatch.setattr(l7a_fast_inference, "_WARNED", set())
    layer = seeded_layer(128, 32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = helper.pack_linear(layer, bits), helper.pack_linear(layer, bits)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and f"no packed {bits}-bit CPU kernel" in messages[0]
    assert not first.uses_kernel and "dequantize-then-matmul" in repr(first)
    granularity = "per-channel" if bits == 8 else "per-group"
    group = None if bits == 8 else 32
    slow = helper.QuantizedLinear.from_linear(layer, bits, granularity, group, torch.bfloat16)
    x = torch.randn(4, 128, generator=torch.Generator().manual_seed(3))
    assert torch.equal(second(x), slow(x))
    assert torch.equal(second.int_weight(), slow.int_weight())


def test_the_kernels_are_found_here():
    assert helper.packed_kernel_available(8) and helper.packed_kernel_available(4)
    with pytest.raises(ValueError, match="bits must be 8 or 4"):
        helper.packed_kernel_available(2)
