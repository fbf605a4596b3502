"""Tests of the lesson helpers of L3-B, L3-C, L3-D and L3-E: block maps, plots, figures and
the "Your turn" checkers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure
import pytest
import torch

import helper

# --- granularity_block_ids -----------------------------------------------------------------


def test_block_ids_per_tensor_is_one_block():
    assert torch.equal(helper.granularity_block_ids((3, 4), "per-tensor"), torch.zeros(3, 4).long())


def test_block_ids_per_channel_rows_and_columns():
    rows = helper.granularity_block_ids((3, 4), "per-channel", dim=0)
    columns = helper.granularity_block_ids((3, 4), "per-channel", dim=1)
    assert torch.equal(rows, torch.arange(3).view(3, 1).expand(3, 4))
    assert torch.equal(columns, torch.arange(4).view(1, 4).expand(3, 4))
    assert torch.equal(helper.granularity_block_ids((3, 4), "per-channel", dim=-1), columns)


def test_block_ids_per_group_number_groups_row_by_row():
    ids = helper.granularity_block_ids((2, 6), "per-group", group_size=3)
    assert ids.tolist() == [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3]]


def test_block_ids_match_the_scales_of_quantize_blocks():
    """Values with one block id share one scale in helper's quantizer (3-D, per group)."""
    torch.manual_seed(0)
    tensor = torch.randn(2, 3, 8)
    ids = helper.granularity_block_ids(tensor.shape, "per-group", group_size=4)
    _, scale = helper.linear_q_symmetric_per_group(tensor, 4)
    assert ids.max().item() + 1 == scale.numel()
    spread = scale.flatten()[ids]
    expected = tensor.abs().view(-1, 4).amax(dim=1).repeat_interleave(4).view(tensor.shape) / 127
    assert torch.allclose(spread, expected)


@pytest.mark.parametrize(
    ("shape", "granularity", "kwargs", "error", "match"),
    [
        ((3, 0), "per-tensor", {}, ValueError, "shape must hold positive ints"),
        ((3, 2.0), "per-tensor", {}, ValueError, "shape must hold positive ints"),
        ((3, 5), "per-group", {"group_size": 2}, ValueError, "group_size 2 must divide"),
        ((3, 5), "per-channel", {"dim": 2}, IndexError, "dim 2 is out of range"),
        ((3, 5), "per-row", {}, ValueError, "granularity must be"),
    ],
)
def test_block_ids_reject_bad_input(shape, granularity, kwargs, error, match):
    with pytest.raises(error, match=match):
        helper.granularity_block_ids(shape, granularity, **kwargs)


# --- Plots ----------------------------------------------------------------------------------


def _titles(figure):
    return [ax.get_title() for ax in figure.axes]


def test_plot_granularity_blocks_has_one_titled_panel_per_granularity():
    figure = helper.plot_granularity_blocks((6, 8), group_size=4)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert _titles(figure) == [
        "Per tensor: 1 scale",
        "Per channel, rows (dim=0): 6 scales",
        "Per channel, columns (dim=1): 8 scales",
        "Per group of 4 along rows: 12 scales",
    ]
    assert "share one scale" in figure._suptitle.get_text()
    texts = [text.get_text() for text in figure.axes[3].texts]
    assert texts[:5] == ["s0", "s0", "s0", "s0", "s1"]


def test_plot_granularity_blocks_writes_the_values_of_a_small_tensor():
    figure = helper.plot_granularity_blocks(helper.course_tensor(), panels=("per-channel columns",))
    assert _titles(figure) == ["Per channel, columns (dim=1): 3 scales"]
    assert [text.get_text() for text in figure.axes[0].texts][:3] == ["191.6", "-13.5", "728.6"]


@pytest.mark.parametrize(
    ("tensor", "panels", "match"),
    [
        ((2, 3, 4), ("per-tensor",), "must be 2-D"),
        ((4, 4), ("per-row",), "panels must be names from"),
        ((4, 4), (), "panels must be names from"),
    ],
)
def test_plot_granularity_blocks_rejects_bad_input(tensor, panels, match):
    with pytest.raises(ValueError, match=match):
        helper.plot_granularity_blocks(tensor, panels=panels)


def test_plot_granularity_blocks_per_group_needs_a_group_size():
    with pytest.raises(ValueError, match="group_size must be a positive int"):
        helper.plot_granularity_blocks((4, 4), panels=("per-group",))


def test_plot_broadcasting_shows_scale_and_result():
    tensor = torch.arange(1.0, 10.0).reshape(3, 3)
    scale = torch.tensor([1.0, 5.0, 10.0])
    figure = helper.plot_broadcasting(tensor, [scale.view(1, 3), scale.view(3, 1)])
    assert isinstance(figure, matplotlib.figure.Figure)
    titles = _titles(figure)
    assert titles[:4] == [
        "tensor, shape (3, 3)",
        "scale, shape (1, 3)",
        "scale (1, 3) broadcast to (3, 3)",
        "tensor / scale",
    ]
    assert titles[5] == "scale, shape (3, 1)"
    result = [text.get_text() for text in figure.axes[7].texts]
    assert result[:3] == ["1", "2", "3"]  # row 0 divided by 1


def test_plot_broadcasting_rejects_bad_input():
    tensor = torch.ones(3, 3)
    with pytest.raises(ValueError, match="tensor must be a 2-D"):
        helper.plot_broadcasting(torch.ones(3), [torch.ones(1, 3)])
    with pytest.raises(ValueError, match="at least one scale"):
        helper.plot_broadcasting(tensor, [])
    with pytest.raises(ValueError, match="each scale must be a 2-D"):
        helper.plot_broadcasting(tensor, [torch.ones(3)])
    with pytest.raises(ValueError, match="does not broadcast"):
        helper.plot_broadcasting(tensor, [torch.ones(1, 2)])


def test_plot_group_reshape_shows_the_view_and_the_scales():
    figure = helper.plot_group_reshape((2, 6), 3)
    assert _titles(figure) == ["tensor (2, 6)", "tensor.view(-1, 3): (4, 3)", "scale (4, 1)"]
    assert [text.get_text() for text in figure.axes[2].texts] == ["s0", "s1", "s2", "s3"]


def test_plot_group_reshape_rejects_bad_input():
    with pytest.raises(ValueError, match="group_size 4 must divide"):
        helper.plot_group_reshape((2, 6), 4)
    with pytest.raises(ValueError, match="shape must be 2-D"):
        helper.plot_group_reshape((2, 3, 6), 3)


def test_plot_group_size_tradeoff_error_grows_bits_fall():
    torch.manual_seed(0)
    weight = torch.randn(16, 64)
    figure = helper.plot_group_size_tradeoff(weight, [8, 16, 32, 64], dtype=torch.int4)
    left, right = figure.axes
    assert left.get_title() == "Quantization error (int4)"
    assert right.get_title() == "Real storage (fp16 scales)"
    assert left.get_ylabel() == "mean squared error"
    assert right.get_ylabel() == "bits per weight"
    assert left.get_xlabel() == "group size (values sharing one scale)"
    errors = list(left.lines[0].get_ydata())
    assert errors == sorted(errors)
    assert list(right.lines[0].get_ydata()) == [6.0, 5.0, 4.5, 4.25]


def test_plot_group_size_tradeoff_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one group size"):
        helper.plot_group_size_tradeoff(torch.randn(4, 8), [])
    with pytest.raises(ValueError, match="group_size 3 must divide"):
        helper.plot_group_size_tradeoff(torch.randn(4, 8), [3])
    with pytest.raises(TypeError, match="floating-point"):
        helper.plot_group_size_tradeoff(torch.ones(4, 8, dtype=torch.int8), [4])


def test_plot_bits_per_weight_labels_the_totals():
    figure = helper.plot_bits_per_weight(4, (32, 64, 128), (16, 32))
    (ax,) = figure.axes
    assert ax.get_ylabel() == "bits stored per weight"
    assert "4-bit" in ax.get_title()
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["4.5", "4.25", "4.125", "5", "4.5", "4.25"]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["the 4-bit value", "its share of an fp16 scale", "its share of an fp32 scale"]


def test_plot_bits_per_weight_rejects_empty_lists():
    with pytest.raises(ValueError, match="at least one value"):
        helper.plot_bits_per_weight(4, (), (16,))


def test_plot_layer_outputs_draws_outputs_and_their_difference():
    reference = torch.tensor([-3.0, 3.85, -1.23])
    quantized = torch.tensor([-2.9921, 3.8583, -1.1969])
    figure = helper.plot_layer_outputs(reference, quantized)
    left, right = figure.axes
    assert left.get_title() == "Outputs of the two layers"
    assert right.get_title() == "Error: W8A32 layer - fp32 layer"
    assert left.get_xlabel() == right.get_xlabel() == "output index"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["fp32 layer", "W8A32 layer"]
    heights = [patch.get_height() for patch in right.patches]
    assert heights == pytest.approx((quantized - reference).tolist(), abs=1e-6)


def test_plot_layer_outputs_rejects_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        helper.plot_layer_outputs(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match="quantized_output must be a floating-point"):
        helper.plot_layer_outputs(torch.zeros(3), torch.zeros(3, dtype=torch.int8))
    with pytest.raises(TypeError, match="reference_output must be a floating-point"):
        helper.plot_layer_outputs([0.0, 1.0], torch.zeros(2))


# --- Figures of the lessons' markdown -------------------------------------------------------

FIGURES = [
    "figure_l3b_granularities",
    "figure_l3c_per_channel_blocks",
    "figure_l3c_broadcasting",
    "figure_l3d_group_reshape",
    "figure_l3d_bits_per_weight",
    "figure_l3e_inference_modes",
]


@pytest.mark.parametrize("name", FIGURES)
def test_lesson_figures_are_figures(name):
    figure = getattr(helper, name)()
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure.axes


def test_inference_modes_figure_names_both_recipes():
    texts = [text.get_text() for text in helper.figure_l3e_inference_modes().axes[0].texts]
    assert any(text.startswith("W8A32") for text in texts)
    assert any(text.startswith("W8A8") for text in texts)
    assert any("int32 accumulator" in text for text in texts)


# --- "Your turn" checkers -------------------------------------------------------------------


def _not_done(*args):
    raise NotImplementedError  # the exercise as shipped


def _raises(*args):
    raise RuntimeError("boom")


def per_tensor_mae(tensor, dtype=torch.int8):
    quantized_tensor, scale = helper.linear_q_symmetric(tensor, dtype)
    dequantized_tensor = helper.linear_dequantization(quantized_tensor, scale, 0)
    return helper.quantization_error(tensor, dequantized_tensor, error_type="mae")


def per_tensor_mse(tensor, dtype=torch.int8):  # a wrong answer: the MSE
    quantized_tensor, scale = helper.linear_q_symmetric(tensor, dtype)
    dequantized_tensor = helper.linear_dequantization(quantized_tensor, scale, 0)
    return helper.quantization_error(tensor, dequantized_tensor)


def per_tensor_mae_by_hand(tensor, dtype=torch.int8):  # correct, in float32
    q_max = helper.q_range(dtype)[1]
    scale = tensor.abs().max().item() / q_max
    restored = scale * torch.round(tensor / scale).clamp(-q_max - 1, q_max)
    return (tensor - restored).abs().mean().item()


def per_channel_last_axis(tensor, dtype=torch.int8):
    q_max = helper.q_range(dtype)[1]
    scale = tensor.abs().amax(dim=(0, 1), keepdim=True) / q_max
    return helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype), scale


def per_channel_first_axis(tensor, dtype=torch.int8):  # wrong: one scale per batch entry
    return helper.linear_q_symmetric_per_channel(tensor, dim=0, dtype=dtype)


def dequantize_per_group(quantized_tensor, scale, group_size):
    grouped = quantized_tensor.view(-1, group_size)
    dequantized = helper.linear_dequantization(grouped, scale.reshape(-1, 1), 0)
    return dequantized.view(quantized_tensor.shape)


def dequantize_per_group_one_scale(quantized_tensor, scale, group_size):  # wrong: first scale
    return scale.flatten()[0].item() * quantized_tensor.float()


def w8a32_with_bias(input, q_w, s_w, z_w, bias):
    return torch.nn.functional.linear(input, s_w * (q_w.float() - z_w), bias)


def w8a32_with_bias_as_in_course_notebook(input, q_w, s_w, z_w, bias):  # wrong: q s + z
    return torch.nn.functional.linear(input, q_w.float() * s_w + z_w, bias)


def w8a32_forgets_bias(input, q_w, s_w, z_w, bias):
    return helper.quantized_linear_W8A32_without_bias(input, q_w, s_w, z_w)


CHECKERS = [
    (
        helper.check_per_tensor_mae,
        "per_tensor_mae",
        [per_tensor_mae, per_tensor_mae_by_hand],
        [per_tensor_mse],
    ),
    (
        helper.check_per_channel_last_axis,
        "per_channel_last_axis",
        [per_channel_last_axis],
        [per_channel_first_axis],
    ),
    (
        helper.check_per_group_dequantization,
        "dequantize_per_group",
        [dequantize_per_group],
        [dequantize_per_group_one_scale],
    ),
    (
        helper.check_w8a32_with_bias,
        "quantized_linear_W8A32_with_bias",
        [w8a32_with_bias],
        [w8a32_with_bias_as_in_course_notebook, w8a32_forgets_bias],
    ),
]


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS)
def test_checker_passes_a_correct_solution(checker, name, right, wrong):
    for solution in right:
        verdict = checker(solution)
        assert verdict.status == "pass", verdict.message
        assert bool(verdict)
        assert repr(verdict).startswith(f"Well done: {name} matches")


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS)
def test_checker_reports_a_wrong_solution(checker, name, right, wrong):
    for solution in wrong:
        verdict = checker(solution)
        assert verdict.status == "mismatch", verdict.message
        assert not verdict
        assert verdict.message.startswith(f"{name} differs on input")


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS)
def test_checker_says_not_done_yet_for_the_stub(checker, name, right, wrong):
    verdict = checker(_not_done)
    assert verdict.status == "not done yet"
    assert repr(verdict) == f"Not done yet: fill in {name} and run this cell again."


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS)
def test_checker_reports_an_exception(checker, name, right, wrong):
    verdict = checker(_raises)
    assert verdict.status == "error"
    assert verdict.message.startswith(f"{name} raised RuntimeError: boom on input 1 of")


def test_w8a32_checker_catches_the_course_formula_only_through_a_zero_point():
    """The course's ``q s + z`` passes the symmetric case (input 1) and fails the asymmetric one."""
    verdict = helper.check_w8a32_with_bias(w8a32_with_bias_as_in_course_notebook)
    assert "differs on input 2 of" in verdict.message


def test_granularity_panels_name_2d_granularities():
    assert helper.GRANULARITY_PANELS == {
        "per-tensor": ("per-tensor", None),
        "per-channel rows": ("per-channel", 0),
        "per-channel columns": ("per-channel", 1),
        "per-group": ("per-group", None),
    }
