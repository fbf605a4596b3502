"""The exercise checker every "Your turn" uses: ``check_exercise`` runs a learner's function
and a reference on the same cases and returns a ``Verdict`` that names the first difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch


class Verdict:
    """The outcome of ``check_exercise``: ``status`` is "pass", "mismatch", "not done yet"
    or "error", and ``message`` says plainly what happened. It displays as its message."""

    def __init__(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def __bool__(self) -> bool:
        return self.status == "pass"

    def __repr__(self) -> str:
        return self.message


def _kind(value: object) -> str:
    """What ``value`` is, in words: "a tensor of shape (3, 3) and dtype torch.int8", "a float"."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "NumPy array"
        return f"a {kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    article = "an" if type(value).__name__[0] in "aeiou" else "a"
    return f"{article} {type(value).__name__}"


def _show(value: object) -> str:
    """A short text of an input: small tensors in full, large ones by shape and dtype."""
    if isinstance(value, torch.Tensor) and value.numel() <= 6:
        return f"torch.tensor({value.tolist()}, dtype={value.dtype})"
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _kind(value).removeprefix("a ")
    if isinstance(value, torch.nn.Module):
        return repr(value).replace("\n", " ")
    return repr(value)


def _difference(expected: object, got: object, where: str = "the result") -> str | None:
    """None when ``got`` equals ``expected`` (floats within 1e-6 relative), else how it differs.

    The types must be the ones the exercise asks for: a tuple of the same length, a tensor of
    the same shape and dtype, a Python float where a float is expected, an int for an int.
    """
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"{where} should be a tuple of {len(expected)} values, got {_kind(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            if (found := _difference(e, g, f"{where}[{i}]")) is not None:
                return found
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or (got.shape, got.dtype) != (
            expected.shape,
            expected.dtype,
        ):
            return f"{where} should be {_kind(expected)}, got {_kind(got)}"
        close = (
            torch.isclose(got, expected, rtol=1e-6, atol=0)
            if expected.is_floating_point()
            else got == expected
        )
        if bool(close.all()):
            return None
        wrong = torch.nonzero(~close)
        index = tuple(int(i) for i in wrong[0])
        return (
            f"{where} differs at index {index}: expected {expected[index].item()}, got "
            f"{got[index].item()} ({len(wrong)} of {expected.numel()} values differ)"
        )
    if isinstance(expected, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            hint = " (.item() turns a one-value tensor into one)" * isinstance(got, torch.Tensor)
            return f"{where} should be a Python float, got {_kind(got)}{hint}"
        if not math.isclose(got, expected, rel_tol=1e-6):
            return f"{where} should be {expected!r}, got {got!r}"
        return None
    int_wanted = isinstance(expected, int) and not isinstance(expected, bool)
    if int_wanted and (isinstance(got, bool) or not isinstance(got, int)):
        return f"{where} should be an int, {expected!r}, got {_kind(got)}: {got!r}"
    return None if got == expected else f"{where} should be {expected!r}, got {got!r}"


def check_exercise(
    learner_function: Callable,
    reference_function: Callable,
    cases: Sequence[tuple],
    name: str = "your function",
    labels: Sequence[str] | None = None,
) -> Verdict:
    """Run ``learner_function`` and ``reference_function`` on each tuple of arguments in ``cases``.

    Returns a ``Verdict``: "pass" when every result matches, otherwise the first case where
    it does not ("mismatch": the input, and what was expected and received), raised an
    exception ("error"), or raised ``NotImplementedError`` ("not done yet": the exercise as
    shipped, whose body is only ``raise NotImplementedError``). ``labels`` name the cases in
    words, in the messages.
    """
    for number, args in enumerate(cases, start=1):
        expected = reference_function(*args)
        call = f"{name}({', '.join(_show(arg) for arg in args)})"
        if labels is not None:
            call = f"{labels[number - 1]}: {call}"
        try:
            got = learner_function(*args)
        except NotImplementedError:
            return Verdict("not done yet", f"Not done yet: fill in {name} and run this cell again.")
        except Exception as error:  # noqa: BLE001 (a learner's bug is reported, not raised)
            return Verdict(
                "error",
                f"{name} raised {type(error).__name__}: {error} on input {number} of "
                f"{len(cases)}, {call}.",
            )
        if (difference := _difference(expected, got)) is not None:
            return Verdict(
                "mismatch",
                f"{name} differs on input {number} of {len(cases)}, {call}: {difference}.",
            )
    return Verdict("pass", f"Well done: {name} matches the reference on all {len(cases)} inputs.")
