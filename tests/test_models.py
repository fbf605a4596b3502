"""course.models: the digits MLP trains to a good accuracy, deterministically."""

import torch

from course import models


def test_trained_mlp_is_accurate_and_deterministic(trained):
    model, digits = trained
    assert digits.x_train.shape == (1437, 64) and digits.x_test.shape == (360, 64)
    assert models.accuracy(model, digits.x_test, digits.y_test) > 0.95
    again = models.digits_mlp(0)
    assert not torch.equal(again[0].weight, model[0].weight)  # trained, not the initial weights
    assert torch.equal(models.digits_mlp(0)[0].weight, again[0].weight)  # seeded


def test_training_does_not_depend_on_the_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model, _ = models.train_digits_mlp()
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    again, _ = models.train_digits_mlp()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


def test_the_shipped_weights_are_what_training_gives(trained):
    """data/digits_mlp.pt is train_digits_mlp()'s result; on another CPU training rounds its
    sums differently, so the weights agree to float32 noise, not bit for bit, and score the same."""
    shipped, digits = trained
    model, _ = models.train_digits_mlp()
    for mine, theirs in zip(model.parameters(), shipped.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-4)
    assert models.accuracy(model, digits.x_test, digits.y_test) == models.accuracy(
        shipped, digits.x_test, digits.y_test
    )


def test_other_seeds_are_trained():
    model, _ = models.trained_digits_mlp(seed=1)
    assert not torch.equal(model[0].weight, models.trained_digits_mlp()[0][0].weight)
