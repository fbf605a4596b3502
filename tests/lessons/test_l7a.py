"""course.lessons.l7a (lesson L7-A): its timing helpers, tables, plots, widget and checker.
Times are never asserted (the machine is shared): the tests check what is measured and how it
is shown, on fixed timings where a number matters."""

import pytest
import torch
from conftest import l7a_timings

import helper
from course.lessons import l7a
from course.lessons.l7a import LayerTiming, Timing


def test_time_call_times_on_one_thread_and_restores_the_threads():
    threads, seen = torch.get_num_threads(), []
    timing = l7a.time_call(lambda: seen.append(torch.get_num_threads()), repeats=4)
    assert seen == [1] * 5  # a warm-up call, then the repeats
    assert torch.get_num_threads() == threads
    assert timing.repeats == 4 and timing.ms >= 0 and timing.spread >= 0


def test_time_interleaved_calls_each_function_once_a_round_after_a_warm_up():
    calls = []
    runs = l7a.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b"] * 4  # the warm-up round, then three rounds
    assert set(runs) == {"a", "b"} and all(len(ms) == 3 and min(ms) >= 0 for ms in runs.values())
    assert Timing.of([3.0, 1.0, 2.0]) == Timing(2.0, 2.0, 3)


def test_machine_measurements_are_positive_rates():
    assert l7a.time_bandwidth(megabytes=4, repeats=2) > 0
    assert l7a.time_peak_flops(size=64, repeats=2) > 0


def test_square_layer_is_the_same_bits_every_time():
    first, second = l7a.square_layer(64, seed=3), l7a.square_layer(64, seed=3)
    assert torch.equal(first.weight, second.weight) and first.bias is None
    assert abs(float(first.weight.detach().std()) - 64**-0.5) < 0.01


@pytest.mark.parametrize("bits", [8, 4])
def test_the_three_ways_compute_the_same_layer(bits):
    ways = l7a.layer_ways(l7a.square_layer(256), bits)
    assert list(ways) == list(l7a.WAYS)
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(0))
    reference = ways["dequantize-then-matmul"](x)
    assert float((ways["packed kernel"](x) - reference).norm() / reference.norm()) < 1e-2
    fp32 = ways["fp32"](x)
    assert float((reference - fp32).norm() / fp32.norm()) < (0.02 if bits == 8 else 0.2)


def test_time_layers_measures_every_setting_once_each_way():
    timings = l7a.time_layers((64, 128), (8, 4), (1, 2), repeats=1)
    keys = [(t.size, t.bits, t.batch, t.way) for t in timings]
    assert len(keys) == len(set(keys)) == 2 * 2 * (1 + 2 * 2)
    fp32 = next(t for t in timings if t.way == "fp32" and t.size == 128)
    assert fp32.bits == 32 and fp32.n_bytes == 4 * 128 * 128
    packed = next(t for t in timings if (t.way, t.bits, t.size) == ("packed kernel", 4, 128))
    assert packed.n_bytes == helper.model_bytes(helper.pack_linear(l7a.square_layer(128), 4))
    assert packed.flops == 2 * packed.batch * 128 * 128


def test_timing_table_shows_each_way_against_fp32():
    timings = [
        LayerTiming(64, 32, 1, "fp32", 16384, Timing(2.0, 0.2, 3)),
        LayerTiming(64, 4, 1, "packed kernel", 2560, Timing(0.5, 0.1, 3)),
    ]
    table = l7a.timing_table(timings).splitlines()
    assert len(table) == 3 and "vs fp32" in table[0]
    assert table[2].split()[-1] == "4.00x" and "0.500 ±  0.050" in table[2]


@pytest.mark.parametrize("plot", ["time", "roofline"])
def test_plots_draw_every_way_and_the_bound(plot):
    timings = l7a_timings()
    figure = (
        l7a.plot_time_against_bytes(timings, 10e9)
        if plot == "time"
        else l7a.plot_roofline(timings, 10e9, 50e9)
    )
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels[:5] == [
        "fp32",
        "dequantize-then-matmul, 8-bit",
        "dequantize-then-matmul, 4-bit",
        "packed kernel, 8-bit",
        "packed kernel, 4-bit",
    ]
    assert ("bandwidth" in labels[5]) and len(labels) == 6


def test_roofline_points_are_speed_against_intensity():
    timings = [t for t in l7a_timings() if t.batch == 1 and t.way == "fp32" and t.size == 4096]
    figure = l7a.plot_roofline(timings, 10e9, 50e9)
    ((x, y),) = figure.axes[0].collections[0].get_offsets()
    assert x == pytest.approx(0.5)  # fp32 at batch 1: 2 flops per 4 bytes
    assert y == pytest.approx(timings[0].flops / timings[0].timing.ms / 1e6)


def test_widget_looks_up_the_timings_it_was_given():
    timings = l7a_timings()
    explorer = l7a.explore_fast_inference(timings)
    explorer.controls["size"].value = 2048
    explorer.controls["bits"].value = 8
    explorer.controls["batch"].value = 16
    pick = {(t.size, t.bits, t.batch, t.way): t.timing.ms for t in timings}
    assert explorer.readout["fp32_ms"] == pick[2048, 32, 16, "fp32"]
    assert explorer.readout["dequantize_ms"] == pick[2048, 8, 16, "dequantize-then-matmul"]
    assert explorer.readout["packed_ms"] == pick[2048, 8, 16, "packed kernel"]
    speed = pick[2048, 32, 16, "fp32"] / pick[2048, 8, 16, "packed kernel"]
    assert explorer.readout["packed_speed_up"] == f"{speed:.2f}x"


def test_widget_refuses_timings_without_fp32():
    timings = [t for t in l7a_timings() if t.way != "fp32"]
    with pytest.raises(ValueError, match="fp32 for every size and batch"):
        l7a.explore_fast_inference(timings)


def test_generation_speed_is_bytes_per_second_with_and_without_the_cache():
    model = l7a.same_shape_tiny_model(16)
    speeds = l7a.time_generation({"tiny": model}, "def ", 4, repeats=2)
    assert [(s.label, s.cache) for s in speeds] == [("tiny", False), ("tiny", True)]
    for speed in speeds:
        assert speed.bytes_per_second == pytest.approx(1e3 / speed.ms_per_byte.ms)
        assert len(speed.runs) == 2 and speed.ms_per_byte == Timing.of(speed.runs)
    assert "bytes/s" in l7a.generation_table(speeds).splitlines()[0]


def test_the_tiny_model_has_the_course_model_shape_and_leaves_the_seed_alone():
    state = torch.random.get_rng_state()
    tiny = l7a.same_shape_tiny_model(16)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert len(tiny.blocks) == 6 and tiny.context_length == 128
    assert tiny.blocks[0].mlp.up.weight.shape == (64, 16)


def solution(q):
    rows, columns = q.shape
    u = (q + 8).to(torch.uint8).reshape(rows // 32, 2, 16, columns)
    return (u[:, 0] | u[:, 1] << 4).transpose(1, 2).reshape(rows, columns // 2)


def test_checker_passes_the_solution_and_names_a_failing_case():
    assert l7a.check_pack_int4(solution).status == "pass"

    def neighbours(q):  # the layout without AVX: rows 2i and 2i + 1 share a byte
        return helper.pack_int4_for_cpu(q, "DEFAULT")

    verdict = l7a.check_pack_int4(neighbours)
    assert verdict.status == "mismatch" and "one block of 32 rows" in verdict.message

    def no_offset(q):  # forgets u = q + 8: right for the values that are not negative
        rows, columns = q.shape
        u = q.to(torch.uint8).reshape(rows // 32, 2, 16, columns) & 15
        return (u[:, 0] | u[:, 1] << 4).transpose(1, 2).reshape(rows, columns // 2)

    assert l7a.check_pack_int4(no_offset).status == "mismatch"


def test_checker_says_not_done_yet_for_the_exercise_as_shipped():
    def pack_int4(q):
        raise NotImplementedError

    assert l7a.check_pack_int4(pack_int4).status == "not done yet"
