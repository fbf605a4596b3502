"""Fine-tune the course's language model with its weights fake-quantized (lesson L7-B's QAT model).

    python tools/train_qat.py                 # the shipped model: 26 minutes on one busy core
    python tools/train_qat.py --steps 3 --batch-size 2 --window 16 --eval-bytes 256 --out /tmp/qat
    python tools/train_qat.py --compare-only    # data/qat_comparison.json: about 10 minutes

It starts from the shipped model (``data/language_model.pt``), turns every linear layer into a
``helper.QATLinear`` (3-bit, one scale per output channel, as ``helper.quantize_model(model, 3,
"per-channel")`` will quantize it), and trains on random windows of the training text: seeded
(the windows drawn by a private generator), on one CPU thread, AdamW with a short linear warm-up
and a cosine decay. The STE lets the float weights learn while the loss sees their quantized
values. Every ``--eval-every`` steps it measures the model quantized that way on the held-out
*calibration* text (the evaluation text stays untouched until the end).

It writes ``language_model_qat.pt`` (the float weights, the state dict of a plain
``ByteTransformer``: meant to be quantized with ``helper.quantize_model``) and
``language_model_qat.json`` (the model's shape, the settings, the curve, the time taken, and the
evaluation text's bits per byte at the end); ``course.language_model.load("qat")`` reads them.
``--compare-only`` trains nothing: it scores round-to-nearest, GPTQ and QAT over bits and scales
on the whole evaluation text (``course.lessons.l7b.compare``, in float64) and writes
``data/qat_comparison.json``, which lesson L7-B and its widget read.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from train_language_model import (  # the same schedule and step (tools/ is the script's path)
    learning_rate,
    train_step,
)

import helper
from course import language_model as lm
from course.lessons import l7b
from course.texts import read_text


def quantized(model: torch.nn.Module) -> torch.nn.Module:
    """The QAT model as it will be shipped and used: its ``QATLinear`` layers quantized."""
    return helper.convert_qat(model)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    base = lm.load(args.base, args.base_settings)
    group_size = args.group_size if args.granularity == "per-group" else None
    model = helper.prepare_qat(base, args.bits, args.granularity, group_size)
    train_ids = helper.byte_ids(read_text("train"))
    check_ids = helper.byte_ids(read_text("calibration"))[: args.eval_bytes]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay
    )
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    model.eval()
    first = helper.bits_per_byte(quantized(model), check_ids)
    curve: list[dict] = [
        {"step": 0, "train_bits_per_byte": None, "check_bits_per_byte": round(first, 4)}
    ]
    running = None
    for step in range(args.steps):
        lr = learning_rate(step, args.steps, args.lr, args.warmup)
        bits = train_step(model, optimizer, lr, train_ids, args.window, args.batch_size, generator)
        running = bits if running is None else 0.95 * running + 0.05 * bits
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            checked = helper.bits_per_byte(quantized(model), check_ids)
            curve.append(
                {
                    "step": step + 1,
                    "train_bits_per_byte": round(running, 4),
                    "check_bits_per_byte": round(checked, 4),
                    "minutes": round((time.perf_counter() - start) / 60, 2),
                }
            )
            print(json.dumps(curve[-1]), flush=True)
    minutes = (time.perf_counter() - start) / 60
    model.eval()
    trained = lm.ByteTransformer(base.config)
    trained.load_state_dict(model.state_dict())
    eval_ids = helper.byte_ids(read_text("eval"))[: args.final_eval_bytes or None]
    setting = (args.bits, args.granularity, group_size)
    report = {
        "config": asdict(base.config),
        "qat": {"bits": args.bits, "granularity": args.granularity, "group_size": group_size},
        "training": {
            key: getattr(args, key)
            for key in (
                "steps",
                "batch_size",
                "window",
                "lr",
                "warmup",
                "weight_decay",
                "seed",
                "threads",
            )
        },
        "training_minutes": round(minutes, 1),
        "check_text": f"the first {len(check_ids)} bytes of the calibration text",
        "curve": curve,
        "eval_bytes": len(eval_ids),
        "eval_bits_per_byte": {
            "fp32 (shipped model)": round(helper.bits_per_byte(base, eval_ids), 4),
            "round to nearest (shipped model)": round(
                helper.bits_per_byte(helper.quantize_model(base, *setting), eval_ids), 4
            ),
            "QAT model, float": round(helper.bits_per_byte(trained, eval_ids), 4),
            "QAT model, quantized": round(
                helper.bits_per_byte(helper.quantize_model(trained, *setting), eval_ids), 4
            ),
        },
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    weights_file, settings_file = (args.out / path.name for path in lm.QAT_FILES)
    torch.save(trained.state_dict(), weights_file)
    settings_file.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["eval_bits_per_byte"]), flush=True)
    return report


def compare_only() -> None:
    torch.set_num_threads(1)
    model = lm.load()
    windows = helper.byte_windows(read_text("eval"), model.context_length + 1)
    rows = l7b.compare(model, lm.load("qat"), windows)
    # The bytes scored: each window of context_length + 1 bytes is scored on its last context_length.
    l7b.save_comparison(rows, windows.shape[0] * model.context_length)
    for row in rows:
        print(row, flush=True)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=lm.DATA_DIR, help="where the weights go")
    parser.add_argument("--base", type=Path, default=lm.WEIGHTS_FILE, help="the model to tune")
    parser.add_argument("--base-settings", type=Path, default=lm.SETTINGS_FILE)
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument(
        "--granularity", default="per-channel", choices=("per-channel", "per-group")
    )
    parser.add_argument("--group-size", type=int, default=32, help="with --granularity per-group")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=lm.ModelConfig.context_length)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-bytes", type=int, default=16_384, help="calibration bytes checked")
    parser.add_argument(
        "--final-eval-bytes", type=int, default=0, help="evaluation bytes at the end (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compare-only", action="store_true", help="write qat_comparison.json")
    args = parser.parse_args(argv)
    return compare_only() if args.compare_only else train(args)


if __name__ == "__main__":
    main()
