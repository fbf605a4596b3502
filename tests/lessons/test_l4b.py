"""course.lessons.l4b (L4-B, packing low-bit weights): its plots, widget, checker and runs."""

import pytest
import torch

import helper
from course.lessons import l4b


def _fields_of_four(q):
    flat = q.flatten().to(torch.uint8)
    return torch.cat([flat, flat.new_zeros(-len(flat) % 4)]).reshape(-1, 4)


def pack_2bit_first_value_highest(q):  # wrong: the first value in the highest bits
    fields = _fields_of_four(q)
    return fields[:, 3] | fields[:, 2] << 2 | fields[:, 1] << 4 | fields[:, 0] << 6


def test_small_inputs_are_shown_in_full():
    verdict = l4b.check_pack_2bit(pack_2bit_first_value_highest)
    assert "pack_2bit(torch.tensor([1, 2, 3, 0], dtype=torch.uint8))" in verdict.message


def test_storage_plot_has_one_line_per_bit_width_and_scale_and_the_formula():
    rows = [
        {"bits": bits, "group_size": g, "scale_bits": scale_bits, "measured": bits + 16 / g}
        for bits in (2, 4)
        for scale_bits in (16, 32)
        for g in (32, 64)
    ]
    (ax,) = l4b.plot_storage(rows).axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "2-bit, fp16 scales",
        "2-bit, fp32 scales",
        "4-bit, fp16 scales",
        "4-bit, fp32 scales",
        "the formula",
    ]
    colours = {line.get_label(): line.get_color() for line in ax.lines}
    # one colour per bit width; the scale's dtype is the line's style
    assert colours["2-bit, fp16 scales"] == colours["2-bit, fp32 scales"]
    assert colours["2-bit, fp16 scales"] != colours["4-bit, fp16 scales"]


def test_explore_storage_measures_real_bytes():
    explorer = l4b.explore_storage()
    assert set(explorer.controls) == {"bits", "group_size", "scale_bits"}
    assert explorer.readout["bits_per_weight"] == explorer.readout["ideal_bits"] == 4.5
    explorer.controls["bits"].value = 3  # not packed: an int8 container per value
    assert explorer.readout["bits_per_weight"] == 8.5 and explorer.readout["ideal_bits"] == 3.5
    explorer.controls["scale_bits"].value = 32
    explorer.controls["bits"].value = 2
    explorer.controls["group_size"].value = 64
    assert explorer.readout["bits_per_weight"] == 2.5 == helper.bits_per_weight(2, 64, 32)
    with pytest.raises(ValueError, match="group_size"):
        l4b.explore_storage(group_size=48)
