"""The small networks the lessons train and quantize: the digits MLP, its training, its shipped
trained weights and its accuracy.

The digits themselves come from ``course.data``; quantizing the trained network is ``helper``'s
work (``helper.quantize_model``), and the course's language model is in ``course.language_model``.

Why the trained weights are shipped (``data/digits_mlp.pt``) rather than trained in every lesson:
training is chaotic, and float32 matrix products round differently from one CPU to another (an
AVX-512 server, an AVX2 laptop and an ARM Mac add the same terms in different orders). After 150
steps the weights differ in their last bits between machines, and so would the lessons' numbers.
The shipped weights are ``train_digits_mlp()``'s on the machine that made them
(``python tools/train_digits_mlp.py``); trained anywhere else they agree to about 1e-5.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import torch

from course.data import Digits, load_digits_data
from course.timing import one_thread


def digits_mlp(seed: int = 0, hidden: Sequence[int] = (128, 64)) -> torch.nn.Sequential:
    """A small MLP for the digits, 64 -> 128 -> 64 -> 10 with ReLUs, initialised from ``seed``
    (without touching the global random state)."""
    layers: list[torch.nn.Module] = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for fan_in, fan_out in itertools.pairwise((64, *hidden, 10)):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


# Full-batch gradient descent with momentum: these train the MLP in well under a second.
DIGITS_STEPS, DIGITS_LEARNING_RATE, DIGITS_MOMENTUM = 150, 0.2, 0.9


def train_digits_mlp(
    seed: int = 0,
    steps: int = DIGITS_STEPS,
    lr: float = DIGITS_LEARNING_RATE,
    momentum: float = DIGITS_MOMENTUM,
) -> tuple[torch.nn.Sequential, Digits]:
    """Train ``digits_mlp(seed)`` on ``load_digits_data()``: full-batch gradient descent with
    momentum on the cross-entropy, ``v = momentum * v + grad``, ``w = w - lr * v``, for
    ``steps`` steps (written out: ``torch.optim`` would cost a second of imports on first use).
    Deterministic: no shuffling, a seeded initialisation, and one CPU thread (the sums are then
    added in the same order whatever the machine's number of cores). Returns
    ``(model, data)``, the model in eval mode."""
    data = load_digits_data()
    model = digits_mlp(seed)
    velocity = [torch.zeros_like(p) for p in model.parameters()]
    with one_thread():
        for _ in range(steps):
            model.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
            loss.backward()
            with torch.no_grad():
                for parameter, v in zip(model.parameters(), velocity):
                    v.mul_(momentum).add_(parameter.grad)
                    parameter.sub_(lr * v)
    return model.eval(), data


WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "digits_mlp.pt"


def trained_digits_mlp(seed: int = 0) -> tuple[torch.nn.Sequential, Digits]:
    """``train_digits_mlp(seed)``'s model and data, with the weights read from the file that
    training wrote (``data/digits_mlp.pt``, for seed 0) rather than trained again: the same bits
    on every machine. Other seeds are trained here."""
    if seed != 0:
        return train_digits_mlp(seed)
    model = digits_mlp(seed)
    model.load_state_dict(torch.load(WEIGHTS_FILE, weights_only=True))
    return model.eval(), load_digits_data()


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows of ``x`` whose predicted class (argmax of the output) is ``y``."""
    with torch.no_grad():
        return float((model(x).argmax(dim=-1) == y).float().mean())
