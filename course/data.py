"""The lessons' example data: the course's worked example, seeded random tensors, and the
digits that the L4 lessons train a small network on (the network itself is in ``course.models``).

Every random tensor comes from ``seeded_normal`` (or ``layer_weights``, built on the same private
generator), so the lessons' numbers are the same at every run and the global seed is untouched.
They are also the same on every machine: the normal draws are made in float64 and only then
rounded to float32. PyTorch draws float32 normals (16 at a time or more) with vectorized
``log``, ``sin`` and ``cos`` whose last bit depends on the CPU's instruction set, so
``torch.randn(4, 4)`` after ``torch.manual_seed(0)`` differs by an ulp here and there between an
AVX-512 server, an AVX2 laptop and an ARM Mac; its float64 draws are the same bits on all of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import helper

# The course's worked example (lessons L2-A and L2-B).
COURSE_TENSOR = ((191.6, -13.5, 728.6), (92.14, 295.5, -184.0), (0.0, 684.6, 245.5))


def course_tensor() -> torch.Tensor:
    """The course's 3x3 worked example, ``[[191.6, -13.5, 728.6], [92.14, 295.5, -184],
    [0, 684.6, 245.5]]``, as a new float32 tensor."""
    return torch.tensor(COURSE_TENSOR)


def _normal(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Standard normal draws of ``shape`` in float64, the same bits on every machine."""
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def seeded_normal(seed: int, *shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """``shift + scale * N(0, 1)`` of ``shape`` as float32, from a private generator seeded with
    ``seed`` (the global random state is untouched), drawn and scaled in float64 and rounded to
    float32 once: the same bits on every machine."""
    generator = torch.Generator().manual_seed(seed)
    return (_normal(generator, *shape) * scale + shift).to(torch.float32)


def skewed_tensor(n: int = 10_000, seed: int = 0) -> torch.Tensor:
    """A one-sided (ReLU-like) tensor: ``|x|`` for ``n`` seeded standard normal draws, all >= 0."""
    helper.check_positive_int(n, "n")
    return seeded_normal(seed, n).abs()


def layer_weights(
    seed: int,
    rows: int,
    cols: int,
    log10_sizes: tuple[float, float] = (math.log10(0.05), math.log10(2.0)),
    outliers: bool = True,
    outlier_factor: float = 8.0,
) -> torch.Tensor:
    """Seeded weights shaped like a trained layer's: row i is ``N(0, 1) * size_i``, the sizes
    spread evenly on a log scale from ``10**log10_sizes[0]`` to ``10**log10_sizes[1]`` and
    shuffled; with ``outliers``, one value in 256 (at least one) is made ``outlier_factor``
    times larger."""
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.logspace(*log10_sizes, rows, dtype=torch.float64)[
        torch.randperm(rows, generator=generator)
    ]
    weight = (_normal(generator, rows, cols) * sizes[:, None]).to(torch.float32)
    if outliers:
        picked = torch.randperm(rows * cols, generator=generator)[: max(1, rows * cols // 256)]
        weight.view(-1)[picked] *= outlier_factor
    return weight


def heavy_tailed(n: int = 10_000, seed: int = 0, degrees_of_freedom: float = 3.0) -> torch.Tensor:
    """``n`` seeded draws of Student's t with ``degrees_of_freedom`` (3: heavy tails, a few values
    many standard deviations out), as float32 (lesson L5-A)."""
    helper.check_positive_int(n, "n")
    draws = np.random.default_rng(seed).standard_t(degrees_of_freedom, size=n)
    return torch.from_numpy(draws).to(torch.float32)


class Digits:
    """scikit-learn's bundled 8x8 digits, split once: ``x_*`` are float32 pixels in [0, 1]
    (one row of 64 per image), ``y_*`` int64 labels 0-9."""

    def __init__(self, x_train, y_train, x_test, y_test) -> None:
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test

    def __repr__(self) -> str:
        return f"Digits({len(self.y_train)} to train on, {len(self.y_test)} to test on)"


def load_digits_data(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The 1797 handwritten digits that scikit-learn bundles (no download), as float32 pixels
    / 16 (in [0, 1]) and int64 labels, split into train and test by a seeded permutation.

    The data is the file ``sklearn.datasets.load_digits`` reads (``digits.csv.gz``, shipped
    with scikit-learn), read directly: importing ``sklearn.datasets`` takes about a second,
    longer than training the MLP. If the file is not where scikit-learn 1.9 keeps it,
    ``load_digits`` is used."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    origin = Path(spec.origin).parent if spec and spec.origin else Path()
    path = origin / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # pragma: no cover (another scikit-learn layout)
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, labels = digits.data, digits.target
    pixels = torch.tensor(pixels, dtype=torch.float32) / 16
    labels = torch.tensor(labels, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = math.ceil(test_fraction * len(labels))
    test, train = order[:n_test], order[n_test:]
    return Digits(pixels[train], labels[train], pixels[test], labels[test])
