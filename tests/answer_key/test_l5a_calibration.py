"""answer_key.l5a_calibration (L5-A): SQNR, ranges, the split of the error, the clip search."""

import math
import statistics

import numpy as np
import pytest
import torch

import helper
from answer_key import l5a_calibration
from course import data


def test_sqnr_is_signal_over_noise_in_decibels():
    original = torch.tensor([3.0, -4.0])  # mean square 12.5
    assert helper.sqnr_db(original, original + 0.5) == pytest.approx(10 * math.log10(12.5 / 0.25))
    assert helper.sqnr_db(original, original) == math.inf


def test_sqnr_gains_about_six_decibels_per_bit():
    values = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    sqnr = []
    for bits in range(3, 9):
        q, s = helper.linear_q_symmetric(values, helper.integer_dtype(bits))
        sqnr.append(helper.sqnr_db(values, helper.linear_dequantization(q, s, 0)))
    steps = np.diff(sqnr)
    # The step shrinks by q_max(b + 1) / q_max(b) = (2**b - 1) / (2**(b - 1) - 1), a bit more
    # than 2 (6.02 dB) at few bits: 7 / 3 from 3 to 4 bits, 7.4 dB.
    expected = [20 * math.log10((2**b - 1) / (2 ** (b - 1) - 1)) for b in range(3, 8)]
    assert np.allclose(steps, expected, atol=0.1), steps
    assert steps[-1] == pytest.approx(20 * math.log10(2), abs=0.1)


@pytest.mark.parametrize("block", [(1, 12), (8, 1), (8, 12), (1, 4), (2, 3)])
def test_percentile_100_is_the_min_and_max_of_each_block(block):
    tensor = torch.randn(8, 12, generator=torch.Generator().manual_seed(1))
    r_min, r_max = helper.percentile_range(tensor, block, 100)
    grid = (8 // block[0], 12 // block[1])
    assert r_min.shape == r_max.shape == grid
    blocks = tensor.reshape(grid[0], block[0], grid[1], block[1])
    assert torch.equal(r_min, blocks.amin(dim=(1, 3)))
    assert torch.equal(r_max, blocks.amax(dim=(1, 3)))


@pytest.mark.parametrize("percentile", [99.9, 99, 90, 75.5, 100])
def test_percentile_range_is_numpy_percentile_per_block(percentile):
    tensor = torch.randn(6, 64, generator=torch.Generator().manual_seed(2))
    for block, rows in (((1, 64), tensor.numpy()), ((1, 16), tensor.reshape(-1, 16).numpy())):
        r_min, r_max = helper.percentile_range(tensor, block, percentile)
        assert np.allclose(r_max.reshape(-1), np.percentile(rows, percentile, axis=1), atol=1e-6)
        assert np.allclose(
            r_min.reshape(-1), np.percentile(rows, 100 - percentile, axis=1), atol=1e-6
        )
    whole = helper.percentile_range(tensor, tensor.shape, 100)
    assert [float(v) for v in whole] == [float(v) for v in torch.aminmax(tensor)]


@pytest.mark.parametrize(
    ("percentile", "error"),
    [(50, ValueError), (100.5, ValueError), ("99", TypeError), (True, TypeError)],
)
def test_percentile_range_rejects_a_bad_percentile(percentile, error):
    with pytest.raises(error, match="percentile"):
        helper.percentile_range(torch.randn(8), (8,), percentile)


def test_range_scale_and_zero_point_is_l2b_and_l3a_on_a_given_range():
    tensor = torch.tensor([-1.5, 0.25, 3.0], dtype=torch.float64)
    scale, zero_point = helper.range_scale_and_zero_point(tensor.min(), tensor.max())
    assert (float(scale), int(zero_point)) == helper.get_q_scale_and_zero_point(tensor)
    scale, zero_point = helper.range_scale_and_zero_point(
        torch.tensor(-1.5), torch.tensor(3.0), mode="symmetric"
    )
    assert float(scale) == pytest.approx(3.0 / 127) and int(zero_point) == 0
    scale, zero_point = helper.range_scale_and_zero_point(torch.tensor(2.0), torch.tensor(4.0))
    assert float(scale) == pytest.approx(4.0 / 255)  # widened to include 0
    with pytest.raises(ValueError, match="r_min must not exceed r_max"):
        helper.range_scale_and_zero_point(torch.tensor(1.0), torch.tensor(0.0))


def test_quantize_blocks_with_a_value_range_clips_outside_it():
    tensor = torch.tensor([[-4.0, -1.0, 0.5, 1.0], [2.0, -2.0, 0.0, 8.0]])
    block = (1, 4)
    q, scale, _ = helper.quantize_blocks(
        tensor,
        block,
        torch.int8,
        "symmetric",
        value_range=(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0])),
    )
    assert torch.allclose(scale.reshape(-1), torch.tensor([1 / 127, 2 / 127]))
    assert q[0, 0] == -128 and q[1, 3] == 127  # clipped to the ends of the int8 range
    with pytest.raises(ValueError, match="value_range has 1 values, but the tensor has 2 blocks"):
        helper.quantize_blocks(
            tensor, block, value_range=(torch.tensor([0.0]), torch.tensor([1.0]))
        )


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.1])
def test_rounding_and_clipping_error_add_up_to_the_mse(ratio):
    tensor = data.heavy_tailed(5000, seed=3)
    scale = ratio * float(tensor.abs().max()) / 7
    rounding, clipping = helper.rounding_and_clipping_error(tensor, scale, 0, torch.int4)
    q = helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, torch.int4)
    mse = helper.quantization_error(tensor, helper.linear_dequantization(q, scale, 0))
    assert rounding + clipping == pytest.approx(mse, rel=1e-9)
    assert rounding <= scale**2 / 4  # each rounded value is at most half a step off
    assert (clipping == 0) == (ratio == 1.0)


def test_clip_search_trades_rounding_for_clipping_at_low_bits():
    tensor = data.heavy_tailed(20_000, seed=4).reshape(1, -1)
    ratios = {}
    for bits in (8, 4, 2):
        ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, helper.integer_dtype(bits))
        q, s, z = helper.quantize_blocks(
            tensor, tensor.shape, helper.integer_dtype(bits), "symmetric"
        )
        full = helper.quantization_error(tensor, helper.dequantize_blocks(q, s, z, tensor.shape))
        assert float(mse) <= full
        ratios[bits] = float(ratio)
    assert ratios[8] > ratios[4] > ratios[2]
    assert ratios[2] < 0.25


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
def test_clip_search_per_channel_is_each_rows_own_search(mode):
    weight = data.layer_weights(5, 6, 64)
    ratio, mse = helper.search_clip_ratio(weight, (1, 64), torch.int4, mode)
    assert ratio.shape == mse.shape == (6, 1)
    for row in range(6):
        own_ratio, own_mse = helper.search_clip_ratio(
            weight[row : row + 1], (1, 64), torch.int4, mode
        )
        assert float(own_ratio) == float(ratio[row, 0])
        assert float(own_mse) == pytest.approx(float(mse[row, 0]))


@pytest.mark.parametrize(
    ("shape", "block", "bits", "mode"),
    [((4096,), (4096,), 4, "symmetric"), ((8, 64), (1, 64), 3, "asymmetric"),
     ((8, 64), (4, 16), 2, "symmetric"), ((6, 32), (1, 32), 8, "asymmetric")],
)  # fmt: skip
def test_clip_search_is_one_quantization_per_ratio_computed_at_once(shape, block, bits, mode):
    tensor = data.heavy_tailed(math.prod(shape), seed=bits).reshape(shape)
    dtype = helper.integer_dtype(bits)
    ratio, mse = helper.search_clip_ratio(tensor, block, dtype, mode)
    r_min, r_max = l5a_calibration._blocks_last(tensor, block).aminmax(dim=-1)
    per_ratio = []
    for c in helper.CLIP_RATIOS.tolist():  # the search as a loop: one fake quantization a ratio
        restored = helper.fake_quantize_blocks(tensor, block, dtype, mode, (c * r_min, c * r_max))
        error = l5a_calibration._blocks_last(restored.sub_(tensor).square_(), block)
        per_ratio.append(error.mean(dim=-1, dtype=torch.float64))
    per_ratio = torch.stack(per_ratio)
    assert torch.equal(mse, per_ratio.min(dim=0).values)
    assert torch.equal(ratio, helper.CLIP_RATIOS[per_ratio.argmin(dim=0)])


def test_symmetric_clip_is_lopsided_q_min_s_below_and_c_max_above():
    # 2 bits: levels -2, -1, 0, 1; c = 0.5 of max|r| = 4 gives s = 2: the range is [-4, 2]
    tensor = torch.tensor([-4.0, -3.9, 4.0, 2.0])
    scale = helper.clip_scale(tensor, 0.5, torch.int2)
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, torch.int2), scale, 0
    )
    assert scale == 2.0 and restored.tolist() == [-4.0, -4.0, 2.0, 2.0]
    assert helper.clipped(tensor, scale, 0, torch.int2).tolist() == [False, False, True, False]


def test_clip_search_of_zeros_keeps_the_first_ratio_and_rejects_bad_ratios():
    ratio, mse = helper.search_clip_ratio(torch.zeros(4, 8), (1, 8), ratios=[1.0, 0.5])
    assert torch.all(ratio == 1.0) and torch.all(mse == 0)
    for bad in ([], [0.0], [1.5], [[0.5]]):
        with pytest.raises(ValueError, match="ratios"):
            helper.search_clip_ratio(torch.ones(8), (8,), ratios=bad)


def test_clip_sweep_parts_add_up_to_the_mse_and_the_search_finds_its_minimum():
    tensor = data.heavy_tailed(3000, seed=5)
    sweep = helper.clip_sweep(tensor, 3)
    assert sweep["clipping"][0] == 0  # ratio 1: nothing clipped
    total = sweep["rounding"] + sweep["clipping"]
    dtype = helper.integer_dtype(3)
    for index in (0, 40, 90):  # the two parts add up to the MSE at that ratio
        scale = helper.clip_scale(tensor, float(sweep["ratios"][index]), dtype)
        restored = helper.linear_dequantization(
            helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype), scale, 0
        )
        assert total[index] == pytest.approx(helper.quantization_error(tensor, restored))
    ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, dtype)
    assert sweep["ratios"][total.argmin()] == pytest.approx(float(ratio))
    assert total.min() == pytest.approx(float(mse), rel=1e-5)


def test_clipped_marks_the_values_the_clamp_moves():
    tensor = torch.tensor([-10.0, -1.0, 0.0, 0.5, 1.26, 1.3, 5.0])
    # scale 0.01, int8: round(r / 0.01) beyond [-128, 127] is clipped; 1.26 -> 126, 1.3 -> 130
    expected = torch.tensor([True, False, False, False, False, True, True])
    assert torch.equal(helper.clipped(tensor, 0.01, 0, torch.int8), expected)
    rounding, clipping = helper.rounding_and_clipping_error(tensor, 0.01, 0, torch.int8)
    assert clipping > 0 and rounding < 0.01**2


def test_clip_scale_is_c_max_over_q_max_and_checks_the_ratio():
    tensor = torch.tensor([-3.0, 1.0, 2.5])
    assert helper.clip_scale(tensor, 0.5, torch.int8) == 0.5 * 3.0 / 127
    assert helper.clip_scale(torch.zeros(3), 1.0) == helper.ZERO_RANGE_SCALE
    for bad, error in ((0.0, ValueError), (1.5, ValueError), ("1", TypeError)):
        with pytest.raises(error, match="clip_ratio"):
            helper.clip_scale(tensor, bad)


def test_paired_difference_is_the_mean_difference_and_its_standard_error():
    a = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0])
    b = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    mean, error = helper.paired_difference(a, b)
    d = [0.0, 1.0, 0.0, 0.0, -1.0]
    assert mean == pytest.approx(sum(d) / 5)
    assert error == pytest.approx(statistics.stdev(d) / math.sqrt(5))
    # Pairing: a shared offset per item does not count as noise.
    items = torch.linspace(0, 10, 50, dtype=torch.float64)
    assert helper.paired_difference(items + 0.5, items) == pytest.approx((0.5, 0.0))


@pytest.mark.parametrize(
    ("a", "b", "error"),
    [
        ([1.0, 0.0], torch.zeros(2), TypeError),
        (torch.ones(3), torch.ones(2), ValueError),
        (torch.ones(1), torch.ones(1), ValueError),
        (torch.ones(2, dtype=torch.int64), torch.ones(2), TypeError),
    ],
)
def test_paired_difference_rejects_unpaired_scores(a, b, error):
    with pytest.raises(error, match="a|b"):
        helper.paired_difference(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_the_observers_ranges_are_pytorchs_min_max_and_moving_average(seed):
    from torch.ao.quantization import observer as torch_observer

    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randn(16, 32, generator=generator) * (1 + i / 4) + i / 8 for i in range(8)]
    minmax, average = None, None
    theirs = torch_observer.MinMaxObserver(), torch_observer.MovingAverageMinMaxObserver()
    for batch in batches:
        minmax = helper.min_max_range(batch, minmax)
        average = helper.moving_average_range(batch, average, 0.01)
        for observer in theirs:
            observer(batch)
    for ours, reference in zip((minmax, average), theirs):
        assert torch.equal(ours[0], reference.min_val) and torch.equal(ours[1], reference.max_val)


def test_moving_average_range_moves_c_of_the_way_and_checks_c():
    first = helper.moving_average_range(torch.tensor([-1.0, 1.0]))
    low, high = helper.moving_average_range(torch.tensor([-101.0, 201.0]), first, 0.01)
    assert float(low) == pytest.approx(-2.0) and float(high) == pytest.approx(3.0)
    assert [float(v) for v in helper.min_max_range(torch.tensor([-101.0, 201.0]), first)] == [
        -101.0,
        201.0,
    ]
    for bad, error in ((0, ValueError), (1.5, ValueError), ("0.1", TypeError), (True, TypeError)):
        with pytest.raises(error, match="averaging_constant"):
            helper.moving_average_range(torch.ones(2), None, bad)
    with pytest.raises(TypeError, match="x"):
        helper.min_max_range(torch.ones(2, dtype=torch.int32))
