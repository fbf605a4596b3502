"""The course's own language model: a small byte-level transformer trained on Python's source.

No model can be downloaded where the course runs, so it trains one
(``tools/train_language_model.py``) and ships the weights in ``data/``. The model reads UTF-8
bytes (a vocabulary of 256, no tokenizer) and is a textbook decoder-only transformer (GPT):
token and position embeddings, pre-norm blocks of causal self-attention and an MLP, a final norm
and an output head. Every projection is an ``nn.Linear`` (``linear_names`` lists them), so
``helper.quantize_model`` and the W8A8 code apply unchanged. Its texts are in ``course.texts``.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import helper
from course.texts import DATA_DIR, REBUILD, check_ids, decode, encode

WEIGHTS_FILE = DATA_DIR / "language_model.pt"


SETTINGS_FILE = DATA_DIR / "language_model.json"
# Lesson L7-B's model: the shipped one fine-tuned for 3-bit weights (tools/train_qat.py).
QAT_FILES = (DATA_DIR / "language_model_qat.pt", DATA_DIR / "language_model_qat.json")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a ``ByteTransformer``: what ``data/language_model.json`` records."""

    context_length: int = 128
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 6
    mlp_ratio: int = 4
    vocab_size: int = 256

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            helper.check_positive_int(value, name)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})"
            )


def causal_mask(new: int, total: int) -> torch.Tensor:
    """Which keys each of the last ``new`` of ``total`` positions may see: (new, total) bools,
    True up to and including its own position (the earlier ``total - new`` are all visible)."""
    return torch.ones(new, total, dtype=torch.bool).tril(total - new)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``softmax(q kᵀ / sqrt(d_head), masked) v``, written out: what the fused
    ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask)`` computes in one call."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., new, total)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


class LayerCache:
    """One block's keys and values so far: with them, a new byte needs only its own query, key
    and value (``generate(..., cache=True)``).

    They live in one buffer, (2, batch, heads, ``capacity``, d_head), made at the first write:
    each call writes its new positions in place after the earlier ones, so nothing already kept
    is copied again. ``keys`` and ``values`` are views of the ``length`` positions written.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = helper.check_positive_int(capacity, "capacity")
        self.length = 0
        self.buffer: torch.Tensor | None = None

    @property
    def keys(self) -> torch.Tensor | None:
        return None if self.buffer is None else self.buffer[0, :, :, : self.length]

    @property
    def values(self) -> torch.Tensor | None:
        return None if self.buffer is None else self.buffer[1, :, :, : self.length]

    def extend(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions' keys and values, ``kv`` (2, batch, heads, new, d_head), after
        those kept; the keys and values of all positions so far."""
        start, end = self.length, self.length + kv.shape[3]
        if self.buffer is None:
            self.buffer = kv.new_empty(*kv.shape[:3], self.capacity, kv.shape[4])
        self.buffer[:, :, :, start:end] = kv
        self.length = end
        return self.keys, self.values


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees only itself and earlier ones.

    ``qkv`` projects each position to its query, key and value (``d_model`` each), the heads
    attend (``softmax(q kᵀ / sqrt(d_head))`` with the future masked), and ``out`` mixes the heads.
    With a ``cache``, the new positions' keys and values join the earlier ones kept there.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        batch, time, channels = x.shape
        heads = self.qkv(x).view(batch, time, 3, self.n_heads, channels // self.n_heads)
        qkv = heads.permute(2, 0, 3, 1, 4)  # (3, batch, heads, time, d_head)
        if cache is None:
            mixed = F.scaled_dot_product_attention(*qkv, is_causal=True)
        else:
            k, v = cache.extend(qkv[1:])
            mask = causal_mask(time, k.shape[2]) if time > 1 else None  # one new byte sees all
            mixed = F.scaled_dot_product_attention(qkv[0], k, v, attn_mask=mask)
        return self.out(mixed.transpose(1, 2).reshape(batch, time, channels))


class MLP(nn.Module):
    """Position-wise feed-forward: ``down(gelu(up(x)))``, ``mlp_ratio`` times wider inside."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.mlp_ratio * config.d_model)
        self.down = nn.Linear(config.mlp_ratio * config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.norm_mlp = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x), cache)
        return x + self.mlp(self.norm_mlp(x))


class ByteTransformer(nn.Module):
    """A decoder-only transformer over bytes: ids ``(batch, time)`` -> logits ``(batch, time, 256)``.

    The logits at position ``t`` score the byte at ``t + 1`` given the bytes up to ``t``;
    ``time`` may be anything from 1 to ``context_length``.
    """

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.context_length = config.context_length
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.context_length, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(_init_weights)
        # GPT-2's scaling: the projections that add into the residual stream start smaller.
        for block in self.blocks:
            for layer in (block.attn.out, block.mlp.down):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * config.n_layers))

    def forward(self, ids: torch.Tensor, cache: list[LayerCache] | None = None) -> torch.Tensor:
        """With ``cache`` (one ``LayerCache`` a block), ``ids`` are the positions after those
        cached, and their keys and values are added to it."""
        start = cache[0].length if cache else 0
        ids = check_ids(ids, self.context_length - start)
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        for index, block in enumerate(self.blocks):
            x = block(x, cache[index] if cache else None)
        return self.head(self.norm(x))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def load(
    weights: Path | str = WEIGHTS_FILE, settings: Path | str = SETTINGS_FILE
) -> ByteTransformer:
    """The trained model, in float32 and eval mode, from the committed weights and settings.

    ``load("qat")``: lesson L7-B's model, fine-tuned with its weights fake-quantized to 3 bits
    per channel (its float weights, meant for ``helper.quantize_model(model, 3, "per-channel")``).
    """
    rebuild = REBUILD
    if weights == "qat":
        (weights, settings), rebuild = QAT_FILES, "rebuild it with `python tools/train_qat.py`"
    weights, settings = Path(weights), Path(settings)
    for path in (weights, settings):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: {rebuild}")
    config = ModelConfig(**json.loads(settings.read_text())["config"])
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: the global
        model = ByteTransformer(config)  # random state is left as it was
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{weights} does not fit the model that {settings} describes ({config}): {rebuild}"
        ) from error
    return model.float().eval()


def in_float64(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` (quantized layers included: they compute in their input's
    type). Its outputs are the same bits on every CPU to within float64's rounding, about 1e-16:
    float32's, about 1e-7, would move chaotic steps such as rounding activations to int8."""
    return copy.deepcopy(model).double()


@torch.inference_mode()
def generate(
    model: nn.Module,
    prompt: str | bytes,
    n_bytes: int = 80,
    temperature: float | None = None,
    seed: int = 0,
    cache: bool = False,
) -> str:
    """``prompt`` followed by ``n_bytes`` bytes that ``model`` writes, one at a time.

    Greedy (the most likely byte) when ``temperature`` is None, so the text is the same on every
    run; otherwise each byte is sampled from ``softmax(logits / temperature)`` with a private
    generator seeded with ``seed``. The model sees at most its last ``context_length`` bytes: a
    longer prompt is cut to its end.

    ``cache=True`` (a ``ByteTransformer``): each block keeps its keys and values, and each new
    byte goes through the model alone. Once the window is full it slides, every position moves,
    and the cache is rebuilt from the window, which is what the uncached loop does every time.
    """
    ids = encode(prompt)
    if not len(ids):
        raise ValueError("prompt must not be empty: the model needs at least one byte to go on")
    helper.check_int(n_bytes, "n_bytes", range(2**31), "an int >= 0")
    if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be None (greedy) or a number > 0, got {temperature!r}")
    generator = torch.Generator().manual_seed(seed)
    context = model.context_length
    ids = ids[None, -context:]
    written, layers = [], None
    for _ in range(n_bytes):
        if cache and layers and layers[0].length + 1 == ids.shape[1]:
            logits = model(ids[:, -1:], layers)[0, -1]  # the new byte alone
        elif cache:  # the first pass, or the window slid: fill the cache from it
            layers = [LayerCache(context) for _ in model.blocks]
            logits = model(ids, layers)[0, -1]
        else:
            logits = model(ids)[0, -1]
        if temperature is None:
            byte = logits.argmax()
        else:
            probs = torch.softmax(logits.double() / temperature, dim=-1)
            byte = torch.multinomial(probs, 1, generator=generator)[0]
        written.append(int(byte))
        ids = torch.cat([ids, byte.view(1, 1)], dim=1)[:, -context:]
    return decode(torch.cat([encode(prompt), torch.tensor(written, dtype=torch.long)]))


# The five kinds of linear layer, by the last part of their names, and what the lesson calls them.
LAYER_KINDS = {
    "qkv": "attention in (qkv)",
    "out": "attention out",
    "up": "MLP up",
    "down": "MLP down",
    "head": "output head",
}


def linear_names(model: nn.Module, kind: str | None = None) -> list[str]:
    """The names of ``model``'s linear layers, in order; only those of ``kind`` if given."""
    if kind is not None and kind not in LAYER_KINDS:
        raise ValueError(f"kind must be one of {list(LAYER_KINDS)}, got {kind!r}")
    names = helper.linear_layers(model)
    return [name for name in names if kind in (None, name.rsplit(".", 1)[-1])]
