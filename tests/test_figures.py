"""tools/figures.py: the lessons' figures, and images/ regenerated from them byte for byte."""

import json
import re
import subprocess
import sys

import figures
import matplotlib.figure
import pytest
import torch
from conftest import ROOT, assert_readable, figure_titles

from course import data


def test_plot_levels_histogram_has_one_panel_per_mode():
    figure = figures.plot_levels_histogram(data.skewed_tensor(), torch.int4)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure_titles(figure) == [
        "Asymmetric mode, int4: 16 of 16 levels fall inside the data",
        "Symmetric mode, int4: 8 of 16 levels fall inside the data",
    ]
    single = figures.plot_levels_histogram(torch.randn(50), torch.int8, modes=("symmetric",))
    assert len(single.axes) == 1


def test_plot_levels_histogram_rejects_bad_input():
    with pytest.raises(ValueError, match="modes must be"):
        figures.plot_levels_histogram(torch.randn(5), modes="symmetric")
    with pytest.raises(ValueError, match="mode must be"):
        figures.plot_levels_histogram(torch.randn(5), modes=("affine",))
    with pytest.raises(TypeError, match="floating-point"):
        figures.plot_levels_histogram(torch.arange(5))


@pytest.mark.parametrize(
    "name",
    [
        "figure_l2a_number_line",
        "figure_l2b_number_line",
        "figure_l2b_clamped_zero_point",
        "figure_l3a_number_line",
        "figure_l3a_levels_histogram",
    ],
)
def test_lesson_figures_are_figures_with_titles(name):
    figure = getattr(figures, name)()
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure.axes and all(figure_titles(figure))


def test_clamped_zero_point_figure_contrasts_the_course_and_the_fix():
    titles = figure_titles(figures.figure_l2b_clamped_zero_point())
    assert len(titles) == 2
    assert titles[0].startswith("The original course") and "lost" in titles[0]
    assert titles[1].startswith("helper")


def test_plot_granularity_blocks_has_one_titled_panel_per_granularity():
    figure = figures.plot_granularity_blocks((6, 8), group_size=4)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure_titles(figure) == [
        "Per tensor: 1 scale",
        "Per channel, rows (dim=0): 6 scales",
        "Per channel, columns (dim=1): 8 scales",
        "Per group of 4 along rows: 12 scales",
    ]
    assert "share one scale" in figure._suptitle.get_text()
    texts = [text.get_text() for text in figure.axes[3].texts]
    assert texts[:5] == ["s0", "s0", "s0", "s0", "s1"]


def test_plot_granularity_blocks_writes_the_values_of_a_small_tensor():
    figure = figures.plot_granularity_blocks(data.course_tensor(), panels=("per-channel columns",))
    assert figure_titles(figure) == ["Per channel, columns (dim=1): 3 scales"]
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
        figures.plot_granularity_blocks(tensor, panels=panels)


def test_plot_granularity_blocks_per_group_needs_a_group_size():
    with pytest.raises(ValueError, match="group_size must be a positive int"):
        figures.plot_granularity_blocks((4, 4), panels=("per-group",))


def test_plot_broadcasting_shows_scale_and_result():
    tensor = torch.arange(1.0, 10.0).reshape(3, 3)
    scale = torch.tensor([1.0, 5.0, 10.0])
    figure = figures.plot_broadcasting(tensor, [scale.view(1, 3), scale.view(3, 1)])
    assert isinstance(figure, matplotlib.figure.Figure)
    titles = figure_titles(figure)
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
        figures.plot_broadcasting(torch.ones(3), [torch.ones(1, 3)])
    with pytest.raises(ValueError, match="at least one scale"):
        figures.plot_broadcasting(tensor, [])
    with pytest.raises(ValueError, match="each scale must be a 2-D"):
        figures.plot_broadcasting(tensor, [torch.ones(3)])
    with pytest.raises(ValueError, match="does not broadcast"):
        figures.plot_broadcasting(tensor, [torch.ones(1, 2)])


def test_plot_group_reshape_shows_the_view_and_the_scales():
    figure = figures.plot_group_reshape((2, 6), 3)
    assert figure_titles(figure) == ["tensor (2, 6)", "tensor.view(-1, 3): (4, 3)", "scale (4, 1)"]
    assert [text.get_text() for text in figure.axes[2].texts] == ["s0", "s1", "s2", "s3"]


def test_plot_group_reshape_rejects_bad_input():
    with pytest.raises(ValueError, match="group_size 4 must divide"):
        figures.plot_group_reshape((2, 6), 4)
    with pytest.raises(ValueError, match="shape must be 2-D"):
        figures.plot_group_reshape((2, 3, 6), 3)


def test_plot_bits_per_weight_labels_the_totals():
    figure = figures.plot_bits_per_weight(4, (32, 64, 128), (16, 32))
    (ax,) = figure.axes
    assert ax.get_ylabel() == "bits stored per weight"
    assert "4-bit" in ax.get_title()
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["4.5", "4.25", "4.125", "5", "4.5", "4.25"]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["the 4-bit value", "its share of an fp16 scale", "its share of an fp32 scale"]


def test_plot_bits_per_weight_rejects_empty_lists():
    with pytest.raises(ValueError, match="at least one value"):
        figures.plot_bits_per_weight(4, (), (16,))


def test_inference_modes_figure_names_both_recipes():
    figure = figures.figure_l3e_inference_modes()
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    assert titles[0].startswith("W8A32") and titles[1].startswith("W8A8")
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert any("summed in int32" in text for text in texts)
    assert any("dequantize" in text for text in texts)


GENERATED = {
    f"{name.removeprefix('figure_')}.png" for name in dir(figures) if name.startswith("figure_")
}


def test_images_regenerate_identically(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_images.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    written = sorted(tmp_path.glob("*.png"))
    assert {path.name for path in written} == GENERATED and GENERATED
    for path in written:
        committed = ROOT / "images" / path.name
        assert committed.is_file(), f"{path.name} is not committed: run `make images`"
        assert path.read_bytes() == committed.read_bytes(), f"{path.name} differs: `make images`"


def test_every_committed_image_is_generated_and_shown():
    committed = {path.name for path in (ROOT / "images").glob("*.png")}
    assert committed == GENERATED
    shown = set()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                shown |= set(re.findall(r"\.\./images/([\w.-]+\.png)", "".join(cell["source"])))
    assert committed <= shown, f"images no lesson shows: {sorted(committed - shown)}"


@pytest.mark.parametrize(
    "name", sorted(name for name in dir(figures) if name.startswith("figure_"))
)
def test_every_figure_is_readable_at_100_percent(name):
    assert_readable(getattr(figures, name)())
