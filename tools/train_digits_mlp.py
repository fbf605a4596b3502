"""Train the digits MLP that lessons L4-C to L6-C quantize, and write its weights to
``data/digits_mlp.pt`` (``course.models.trained_digits_mlp`` reads them).

    python tools/train_digits_mlp.py

Training takes under a second (``course.models.train_digits_mlp``: seeded, full batch, one
thread). It is shipped rather than re-run in each lesson because float32 sums round differently
on other CPUs, and the lessons' numbers must be the same on every machine.
"""

from __future__ import annotations

import sys

import torch

from course import models


def main() -> int:
    model, digits = models.train_digits_mlp()
    torch.save(model.state_dict(), models.WEIGHTS_FILE)
    accuracy = models.accuracy(model, digits.x_test, digits.y_test)
    print(f"wrote {models.WEIGHTS_FILE.name}: test accuracy {accuracy:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
