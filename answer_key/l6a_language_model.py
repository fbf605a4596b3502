"""L6-A: a language model's loss in bits per byte, and how far activation channels stand out."""

from __future__ import annotations

import math

import torch

from answer_key.basics import check_float_tensor, check_positive_int
from answer_key.l2_linear_I import ZERO_RANGE_SCALE

# --- L6-A: a language model's loss in bits per byte ----------------------------------------------


def byte_ids(data: object, name: str = "data") -> torch.Tensor:
    """``data`` (``bytes`` or a 1-D integer tensor of values 0-255) as a 1-D LongTensor."""
    if isinstance(data, (bytes, bytearray)):
        if not data:  # torch.frombuffer refuses an empty buffer
            return torch.zeros(0, dtype=torch.long)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    if not isinstance(data, torch.Tensor) or data.dtype.is_floating_point or data.dim() != 1:
        raise TypeError(f"{name} must be bytes or a 1-D integer tensor of byte values")
    if data.numel() and (int(data.min()) < 0 or int(data.max()) > 255):
        raise ValueError(
            f"{name} must hold byte values 0 to 255, got values from {int(data.min())} "
            f"to {int(data.max())}"
        )
    return data.long()


def byte_windows(data: object, length: int) -> torch.Tensor:
    """The bytes of ``data`` cut into consecutive windows of ``length``: ``(n, length)``.

    Window ``i`` is ``x[i length : (i + 1) length]``; a shorter tail is left out.
    """
    ids = byte_ids(data)
    check_positive_int(length, "length")
    n = ids.numel() // length
    if n == 0:
        raise ValueError(f"data holds {ids.numel()} bytes, fewer than one window of {length}")
    return ids[: n * length].view(n, length)


def window_bits(
    model: torch.nn.Module, windows: torch.Tensor, batch_size: int = 64
) -> torch.Tensor:
    """Each window's bits per byte, float64, shape ``(n,)``: window ``(x_0, ..., x_L)`` (a row of
    ``windows``, ``L <= model.context_length``) is read up to ``x_{L-1}`` and scored on the next
    byte at each position,

        bits_i = -(1 / L) sum_t log2 p(x_{t+1} | x_0 .. x_t).

    Each byte's loss is summed in float64 in a fixed order, so the result does not depend on
    how a CPU orders a float32 sum. Comparing two models window by window gives the noise of
    their difference (``paired_difference``).
    """
    ids = windows if isinstance(windows, torch.Tensor) else None
    if ids is None or ids.dim() != 2 or ids.dtype.is_floating_point:
        raise TypeError("windows must be a 2-D integer tensor of byte values (n, length + 1)")
    context = check_positive_int(getattr(model, "context_length", None), "model.context_length")
    if not 2 <= ids.shape[1] <= context + 1:
        raise ValueError(f"windows must be 2 to {context + 1} bytes long, got {ids.shape[1]}")
    check_positive_int(batch_size, "batch_size")
    ids = byte_ids(ids.reshape(-1), "windows").view(ids.shape)
    with torch.no_grad():
        logits = torch.cat([model(batch) for batch in ids[:, :-1].split(batch_size)])
    return logit_bits(logits, ids[:, 1:])


def logit_bits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each window's bits per byte from a model's ``logits`` ``(n, L, 256)`` and the bytes that
    came next, ``targets`` ``(n, L)``: ``window_bits`` once the model has run,

        bits_i = -(1 / L) sum_t log2 softmax(logits_{i,t})[targets_{i,t}],

    each byte's loss in float32, their mean over the window in float64.
    """
    logits = check_float_tensor(logits, "logits")
    if not isinstance(targets, torch.Tensor) or targets.dtype.is_floating_point:
        raise TypeError("targets must be an integer tensor of byte values (n, L)")
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"logits must be (n, L, classes) and targets (n, L), got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    with torch.no_grad():
        nats = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
        )
    return nats.double().view(targets.shape).mean(dim=1) / math.log(2)


def bits_per_byte(model: torch.nn.Module, data: object, batch_size: int = 64) -> float:
    """The model's mean cross-entropy over ``data``, in bits per byte.

        bits per byte = -(1 / N) sum_t log2 p(x_{t+1} | the bytes before it in its window)

    The bytes are cut into windows of ``model.context_length`` (the last one may be shorter):
    window ``i`` reads ``x[iT : iT + T]`` and is scored on the next byte at each position, so
    every byte but the first is predicted exactly once (N = len(data) - 1), batched, with no
    loop over bytes (``window_bits``; the mean is taken in float64). A model that knows nothing
    scores 8 bits per byte (256 equally likely bytes); 2 means it has narrowed each next byte
    to about 2^2 = 4 equally likely choices.
    """
    ids = byte_ids(data)
    if ids.numel() < 2:
        raise ValueError("data must hold at least 2 bytes: the first has nothing to predict it")
    context = check_positive_int(getattr(model, "context_length", None), "model.context_length")
    check_positive_int(batch_size, "batch_size")
    n_full = (ids.numel() - 1) // context
    total = torch.zeros((), dtype=torch.float64)
    if n_full:  # window i is x[iT : iT + T + 1]: read its first T bytes, score its last T
        full = ids[: n_full * context + 1].unfold(0, context + 1, context)
        total += window_bits(model, full, batch_size).sum() * context
    tail = ids[n_full * context :]
    if tail.numel() > 1:  # the shorter last window
        total += window_bits(model, tail[None], batch_size)[0] * (tail.numel() - 1)
    return float(total / (ids.numel() - 1))


def channel_absmax(x: torch.Tensor) -> torch.Tensor:
    """Each channel's largest magnitude over every token: ``max_t |x[t, c]|``, shape (channels,).

    ``x`` is a layer's input, shaped (..., channels); all leading axes count as tokens.
    """
    x = check_float_tensor(x, "x")
    if x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"x must hold at least one token of channels, got shape {tuple(x.shape)}")
    return x.detach().reshape(-1, x.shape[-1]).abs().amax(dim=0)


def outlier_ratio(x: torch.Tensor) -> float:
    """How far the largest channel stands out: ``max_c absmax_c / median_c absmax_c``.

    With one scale for a whole token (per-tensor or per-token activation quantization), the
    channel of the largest magnitude sets the step, so a ratio of 20 leaves a typical channel
    about 1/20 of the levels.
    """
    absmax = channel_absmax(x)
    return float(absmax.max() / absmax.median().clamp_min(ZERO_RANGE_SCALE))
