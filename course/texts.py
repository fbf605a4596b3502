"""The texts of the course's language model (``data/README.md`` says where they come from):
``read_text("train")`` is what the model was trained on; ``"eval"`` and ``"calibration"`` are
whole modules it never saw. Bytes in and out: ``encode``, ``decode``, ``check_ids``.
"""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import Literal

import torch

import helper

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


TEXT_FILES = {
    "train": DATA_DIR / "stdlib_train.txt.xz",
    "eval": DATA_DIR / "stdlib_eval.txt",
    "calibration": DATA_DIR / "stdlib_calibration.txt",
}


Split = Literal["train", "eval", "calibration"]


REBUILD = "rebuild it with `python tools/train_language_model.py` (about an hour on one CPU core)"


def check_ids(ids: object, context_length: int) -> torch.Tensor:
    """``ids`` as a (batch, time) LongTensor of bytes, or a clear error."""
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        got = ids.dtype if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise TypeError(f"ids must be a torch.long tensor of byte values, got {got}")
    if ids.dim() != 2 or not 1 <= ids.shape[1] <= context_length:
        raise ValueError(
            f"ids must be shaped (batch, time) with 1 <= time <= {context_length}, "
            f"got shape {tuple(ids.shape)}"
        )
    if ids.numel() and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(
            f"ids must be byte values 0 to 255, got values from {int(ids.min())} "
            f"to {int(ids.max())}"
        )
    return ids


def encode(text: str | bytes) -> torch.Tensor:
    """The UTF-8 bytes of ``text`` as a 1-D LongTensor of ids 0-255."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    if not isinstance(text, (bytes, bytearray)):
        raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
    return helper.byte_ids(text, "text")


def decode(ids: torch.Tensor) -> str:
    """Bytes back to text; a byte sequence that is not valid UTF-8 shows as '\ufffd'. ``ids`` is
    a 1-D integer tensor of byte values 0-255 (an id past 255 is a ValueError, not wrapped)."""
    return bytes(helper.byte_ids(ids, "ids").tolist()).decode("utf-8", errors="replace")


def read_text(split: Split) -> bytes:
    """The bytes of one of the course's texts: ``"train"``, ``"eval"`` or ``"calibration"``."""
    if split not in TEXT_FILES:
        raise ValueError(f"split must be one of {sorted(TEXT_FILES)}, got {split!r}")
    path = TEXT_FILES[split]
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: restore it with `git checkout -- {path.relative_to(DATA_DIR.parent)}`"
            " or rebuild the texts with `python tools/train_language_model.py --texts-only`"
        )
    return lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()


# How many windows of the evaluation text lessons L6-B and L6-C score on: 128 of 129 bytes
# (16 KB), spread evenly over all five held-out modules rather than the first few KB of one.
EVAL_WINDOWS = 128


def evaluation_windows(n: int, context_length: int) -> torch.Tensor:
    """``n`` windows of ``context_length + 1`` bytes spread evenly over the evaluation text, as
    ``helper.window_bits`` scores them: ``(n, context_length + 1)`` (each window reads its
    first ``context_length`` bytes and is scored on its last ``context_length``)."""
    helper.check_positive_int(n, "n")
    every = helper.byte_windows(read_text("eval"), context_length + 1)
    if n > len(every):
        raise ValueError(f"the evaluation text holds {len(every)} windows, not {n}")
    return every[torch.linspace(0, len(every) - 1, n, dtype=torch.float64).round().long()]
