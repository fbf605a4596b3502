"""What several test files share: paths, the worked example, hypothesis settings, the trained
digits network, and a non-interactive matplotlib backend."""

from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The course's 3x3 worked example (lessons L2 and L3), written out again rather than taken from
# course.data, so that the tests check course.data too.
COURSE_TENSOR = torch.tensor([[191.6, -13.5, 728.6], [92.14, 295.5, -184], [0, 684.6, 245.5]])

# Hypothesis: 200 examples a property, no deadline (a slow first call is not a failure).
PROPERTY = settings(max_examples=200, deadline=None)


@pytest.fixture(scope="session")
def trained():
    """The digits MLP, trained once for the whole session: ``(model, digits)``."""
    from course import data

    return data.train_digits_mlp()
