"""Build the course's texts and train its language model (``course.language_model``).

    python tools/train_language_model.py               # the shipped model: about an hour on 2 cores
    python tools/train_language_model.py --texts-only  # rebuild data/'s three texts only
    python tools/train_language_model.py --steps 5 --d-model 32 --n-layers 1 --out /tmp/lm

The texts are the top-level modules of Python 3.11's standard library (PSF licence), cut by
*module*: ``EVAL_MODULES`` and ``CALIBRATION_MODULES`` are held out whole, every other module is
training text. ``data/stdlib_files.json`` pins each file's SHA-256, so a rebuild from another
3.11 release says which files differ instead of silently training on other text.

Training is seeded (windows drawn by a private generator, weights by ``torch.manual_seed``):
AdamW with a linear warm-up and a cosine decay, on random windows of the training text. The
script writes the weights (``torch.save`` of the state dict, read back with ``weights_only=True``)
and a JSON of the settings, the loss curve and the held-out bits per byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import sys
import sysconfig
import time
from dataclasses import asdict
from pathlib import Path

import torch

import helper
from course import language_model, texts

EVAL_MODULES = ("fnmatch.py", "fractions.py", "queue.py", "sched.py", "textwrap.py")
CALIBRATION_MODULES = ("bisect.py", "colorsys.py", "glob.py", "shlex.py")
MANIFEST = texts.DATA_DIR / "stdlib_files.json"


def split_of(name: str) -> str:
    if name in EVAL_MODULES:
        return "eval"
    return "calibration" if name in CALIBRATION_MODULES else "train"


def build_texts(stdlib: Path, data_dir: Path) -> dict[str, bytes]:
    """The three texts from ``stdlib``'s top-level modules, in name order, each file followed by
    a blank line; written to ``data_dir`` with a manifest of every file's split and SHA-256."""
    if sys.version_info[:2] != (3, 11):
        raise SystemExit("the texts are Python 3.11's standard library: run this with Python 3.11")
    files = sorted(path for path in stdlib.glob("*.py") if path.is_file())
    texts: dict[str, bytearray] = {
        "train": bytearray(),
        "eval": bytearray(),
        "calibration": bytearray(),
    }
    manifest = []
    pinned = (
        {f["name"]: f["sha256"] for f in json.loads(MANIFEST.read_text())}
        if MANIFEST.exists()
        else {}
    )
    for path in files:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if pinned and pinned.get(path.name) != digest:
            print(f"warning: {path.name} differs from the pinned file ({path})", file=sys.stderr)
        texts[split_of(path.name)] += content + b"\n\n"
        manifest.append(
            {
                "name": path.name,
                "split": split_of(path.name),
                "bytes": len(content),
                "sha256": digest,
            }
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "stdlib_files.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for split, text in texts.items():
        path = data_dir / texts.TEXT_FILES[split].name
        path.write_bytes(lzma.compress(bytes(text), preset=9) if path.suffix == ".xz" else text)
    return {split: bytes(text) for split, text in texts.items()}


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then a cosine decay to ``peak / 10``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    config = language_model.ModelConfig(
        context_length=args.context_length,
        d_model=args.d_model,
        n_heads=args.n_heads,
        n_layers=args.n_layers,
    )
    model = language_model.ByteTransformer(config)
    train_ids = helper.byte_ids(texts.read_text("train"))
    eval_ids = helper.byte_ids(texts.read_text("eval"))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    generator = torch.Generator().manual_seed(args.seed)
    offsets = torch.arange(config.context_length + 1)
    curve: list[dict] = []
    start, running = time.perf_counter(), None
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        starts = torch.randint(
            len(train_ids) - config.context_length - 1, (args.batch_size,), generator=generator
        )
        window = train_ids[starts[:, None] + offsets]
        model.train()
        logits = model(window[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bits = loss.item() / math.log(2)
        running = bits if running is None else 0.98 * running + 0.02 * bits
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            held_out = helper.bits_per_byte(model, eval_ids[: args.eval_bytes])
            minutes = (time.perf_counter() - start) / 60
            curve.append(
                {
                    "step": step + 1,
                    "train_bits_per_byte": round(running, 4),
                    "eval_bits_per_byte": round(held_out, 4),
                    "minutes": round(minutes, 2),
                }
            )
            print(json.dumps(curve[-1]), flush=True)
    model.eval()
    report = {
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": {
            key: getattr(args, key)
            for key in ("steps", "batch_size", "lr", "warmup", "weight_decay", "seed", "threads")
        },
        "training_minutes": round((time.perf_counter() - start) / 60, 1),
        "train_bytes": len(train_ids),
        "eval_bytes": len(eval_ids),
        "eval_bits_per_byte": round(helper.bits_per_byte(model, eval_ids), 4),
        "curve": curve,
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / language_model.WEIGHTS_FILE.name)
    (args.out / language_model.SETTINGS_FILE.name).write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--texts-only", action="store_true", help="rebuild data/'s texts, no training"
    )
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--out", type=Path, default=texts.DATA_DIR, help="where the weights go")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--context-length", type=int, default=language_model.ModelConfig.context_length
    )
    parser.add_argument("--d-model", type=int, default=language_model.ModelConfig.d_model)
    parser.add_argument("--n-heads", type=int, default=language_model.ModelConfig.n_heads)
    parser.add_argument("--n-layers", type=int, default=language_model.ModelConfig.n_layers)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--eval-bytes", type=int, default=16_384, help="held-out bytes per check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.texts_only:
        build_texts(args.stdlib, texts.DATA_DIR)
        return None
    if not all(path.exists() for path in texts.TEXT_FILES.values()):
        build_texts(args.stdlib, texts.DATA_DIR)
    return train(args)


if __name__ == "__main__":
    main()
