"""course.data: the worked example, the seeded tensors, the digits and their network."""

import os
import subprocess
import sys

import pytest
import torch

from course import data


def test_course_tensor_is_the_worked_example():
    tensor = data.course_tensor()
    assert tensor.dtype == torch.float32
    assert tensor.shape == (3, 3)
    assert tensor[0, 2].item() == pytest.approx(728.6)
    assert tensor.min().item() == -184.0
    tensor[0, 0] = 0.0  # a new tensor each call
    assert data.course_tensor()[0, 0].item() == pytest.approx(191.6)


def test_skewed_tensor_is_one_sided_and_seeded():
    tensor = data.skewed_tensor(500, seed=3)
    assert tensor.shape == (500,)
    assert bool((tensor >= 0).all())
    assert torch.equal(tensor, data.skewed_tensor(500, seed=3))
    assert not torch.equal(tensor, data.skewed_tensor(500, seed=4))


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_skewed_tensor_rejects_a_bad_size(n):
    with pytest.raises(ValueError, match="n must be a positive int"):
        data.skewed_tensor(n)


def test_seeded_normal_is_seeded_scaled_and_leaves_the_global_seed_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    values = data.seeded_normal(5, 1000, scale=3.0, shift=2.0)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(values, data.seeded_normal(5, 1000, scale=3.0, shift=2.0))
    generator = torch.Generator().manual_seed(5)
    draws = torch.randn(1000, generator=generator, dtype=torch.float64)
    assert torch.equal(values, (2.0 + 3.0 * draws).to(torch.float32))
    assert abs(values.mean().item() - 2.0) < 0.3 and abs(values.std().item() - 3.0) < 0.3


def test_layer_weights_rows_differ_in_size_and_hold_outliers():
    plain = data.layer_weights(1, 16, 512, outliers=False)
    assert torch.equal(plain, data.layer_weights(1, 16, 512, outliers=False))
    row_sizes = plain.std(dim=1)
    assert 0.03 < row_sizes.min().item() < 0.08 and 1.5 < row_sizes.max().item() < 2.5
    with_outliers = data.layer_weights(1, 16, 512)
    changed = with_outliers != plain
    assert changed.sum().item() == 16 * 512 // 256
    assert torch.equal(with_outliers[changed], 8 * plain[changed])
    assert data.layer_weights(2, 2, 4).ne(data.layer_weights(2, 2, 4, outliers=False)).sum() == 1


def test_digits_are_scikit_learns_bundled_digits():
    from sklearn.datasets import load_digits

    sklearn_digits, digits = load_digits(), data.load_digits_data()
    pixels = torch.cat([digits.x_test, digits.x_train])
    labels = torch.cat([digits.y_test, digits.y_train])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    expected = torch.tensor(sklearn_digits.data, dtype=torch.float32)[order] / 16
    assert torch.equal(pixels, expected)
    assert torch.equal(labels, torch.tensor(sklearn_digits.target)[order])
    assert len(digits.y_test) == 360 and len(digits.y_train) == 1437


def test_heavy_tailed_is_seeded_and_has_heavy_tails():
    values = data.heavy_tailed(20_000, seed=0)
    assert values.dtype == torch.float32 and torch.equal(values, data.heavy_tailed(20_000, seed=0))
    standardised = (values - values.mean()) / values.std()
    assert float(standardised.abs().max()) > 8  # a normal sample of 20,000 stays below about 5
    with pytest.raises(ValueError, match="n"):
        data.heavy_tailed(0)


def test_layer_weights_outlier_factor_scales_the_outliers_only():
    plain = data.layer_weights(3, 4, 64, outliers=False)
    strong = data.layer_weights(3, 4, 64, outlier_factor=100.0)
    changed = plain != strong
    assert int(changed.sum()) == 1 and torch.allclose(strong[changed], 100 * plain[changed])
    assert torch.equal(data.layer_weights(3, 4, 64), data.layer_weights(3, 4, 64, outlier_factor=8))


SAME_EVERYWHERE = """
import hashlib
from course import data
tensors = (data.seeded_normal(0, 4, 4), data.seeded_normal(1, 3000), data.layer_weights(7, 64, 96))
print(hashlib.sha256(b"".join(t.numpy().tobytes() for t in tensors)).hexdigest())
"""


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_example_data_is_the_same_bits_on_other_instruction_sets(capability):
    """torch draws float32 normals with vectorized maths whose last bit depends on the CPU; the
    course's data is drawn in float64 and rounded once, so other machines get the same bits."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "MKL_CBWR": "COMPATIBLE"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", SAME_EVERYWHERE],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout
        for environment in (os.environ, env)
    ]
    assert runs[0] == runs[1]
