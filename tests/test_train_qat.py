"""tools/train_qat.py, lesson L7-B's QAT fine-tune, run for 3 steps on a tiny configuration, and
``course.language_model.load("qat")``, which reads what it writes."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

import helper
from course import language_model as lm
from course import texts


def test_the_qat_script_runs_three_steps_on_a_tiny_configuration(tmp_path):
    command = [
        sys.executable, str(ROOT / "tools" / "train_qat.py"), "--steps", "3", "--batch-size", "2",
        "--window", "16", "--warmup", "1", "--eval-every", "2", "--eval-bytes", "256",
        "--final-eval-bytes", "512", "--out", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    weights, settings = (tmp_path / path.name for path in lm.QAT_FILES)
    report = json.loads(settings.read_text())
    assert [point["step"] for point in report["curve"]] == [0, 2, 3]
    assert report["qat"] == {"bits": 3, "granularity": "per-channel", "group_size": None}
    assert report["training"]["steps"] == 3 and report["eval_bytes"] == 512
    trained = lm.load(weights, settings)
    shipped = lm.load()
    assert not trained.training
    moved = [
        name
        for (name, before), after in zip(
            shipped.state_dict().items(), trained.state_dict().values()
        )
        if not torch.equal(before, after)
    ]
    assert "blocks.0.mlp.up.weight" in moved  # the linear layers learned
    quantized = helper.quantize_model(trained, 3, "per-channel")
    score = helper.bits_per_byte(quantized, texts.read_text("eval")[:512])
    assert score == pytest.approx(report["eval_bits_per_byte"]["QAT model, quantized"], abs=1e-4)


def test_load_qat_is_the_shipped_qat_model():
    model = lm.load("qat")
    settings = json.loads(lm.QAT_FILES[1].read_text())
    assert not model.training and model.config == lm.ModelConfig(**settings["config"])
    assert settings["qat"] == {"bits": 3, "granularity": "per-channel", "group_size": None}
    assert not torch.equal(model.head.weight, lm.load().head.weight)


def test_a_missing_qat_model_says_how_to_rebuild_it(monkeypatch, tmp_path):
    monkeypatch.setattr(lm, "QAT_FILES", (tmp_path / "none.pt", tmp_path / "none.json"))
    with pytest.raises(FileNotFoundError, match=r"none\.pt is missing.*tools/train_qat\.py"):
        lm.load("qat")
