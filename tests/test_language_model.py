"""The course's language model (course.language_model): its shape, its texts, loading, writing,
its training script on a tiny configuration, and the shipped model's held-out score."""

import importlib.util
import itertools
import json
import lzma
from dataclasses import asdict

import pytest
import torch
from conftest import ROOT

import helper
from course import language_model, texts

# The training script is a tool, not a module of the package: load it from its file.
_spec = importlib.util.spec_from_file_location(
    "train_language_model", ROOT / "tools" / "train_language_model.py"
)
train_language_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_language_model)

TINY = language_model.ModelConfig(context_length=16, d_model=16, n_heads=2, n_layers=1)


@pytest.fixture(scope="module")
def model():
    return language_model.load()


def test_the_model_is_a_byte_level_decoder_whose_projections_are_all_linear():
    torch.manual_seed(0)
    tiny = language_model.ByteTransformer(TINY)
    logits = tiny(torch.randint(0, 256, (3, 10)))
    assert logits.shape == (3, 10, 256) and tiny.context_length == 16
    kinds = {
        name.rsplit(".", 1)[-1]
        for name, m in tiny.named_modules()
        if isinstance(m, torch.nn.Linear)
    }
    assert kinds == {"qkv", "out", "up", "down", "head"}


def test_attention_is_causal_a_later_byte_never_changes_an_earlier_prediction():
    torch.manual_seed(0)
    tiny = language_model.ByteTransformer(TINY).eval()
    ids = torch.randint(0, 256, (1, 12))
    changed = ids.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % 256
    assert torch.allclose(tiny(ids)[0, :7], tiny(changed)[0, :7], atol=1e-6)
    assert not torch.allclose(tiny(ids)[0, 7:], tiny(changed)[0, 7:])


@pytest.mark.parametrize(
    ("ids", "error", "match"),
    [
        (torch.zeros(1, 4, dtype=torch.int32), TypeError, "torch.long"),
        ([[1, 2]], TypeError, "torch.long"),
        (torch.zeros(4, dtype=torch.long), ValueError, r"\(batch, time\)"),
        (torch.zeros(1, 17, dtype=torch.long), ValueError, "1 <= time <= 16"),
        (torch.tensor([[1, 256]]), ValueError, "0 to 255, got values from 1 to 256"),
        (torch.tensor([[-1, 2]]), ValueError, "0 to 255"),
    ],
)
def test_bad_ids_get_a_clear_error(ids, error, match):
    with pytest.raises(error, match=match):
        language_model.ByteTransformer(TINY)(ids)


def test_config_checks_its_numbers():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        language_model.ModelConfig(d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="n_layers must be a positive int"):
        language_model.ModelConfig(n_layers=0)


def test_encode_and_decode_are_utf8_bytes():
    ids = texts.encode("é = 1")
    assert ids.tolist() == [0xC3, 0xA9, 32, 61, 32, 49] and ids.dtype == torch.long
    assert texts.decode(ids) == "é = 1"
    assert texts.decode(ids[1:]) == "\ufffd = 1"
    with pytest.raises(TypeError, match="str or bytes"):
        texts.encode(3)
    with pytest.raises(ValueError, match="ids must hold byte values 0 to 255"):
        texts.decode(torch.tensor([104, 300]))  # 300 would wrap to 44, a comma
    with pytest.raises(TypeError, match="ids must be bytes or a 1-D integer tensor"):
        texts.decode(torch.tensor([104.0]))


def test_the_texts_are_cut_by_module_as_the_manifest_says():
    manifest = json.loads((texts.DATA_DIR / "stdlib_files.json").read_text())
    for split in ("train", "eval", "calibration"):
        files = [f for f in manifest if f["split"] == split]
        assert len(texts.read_text(split)) == sum(f["bytes"] + 2 for f in files)
    held_out = {f["name"] for f in manifest if f["split"] != "train"}
    assert held_out == set(
        train_language_model.EVAL_MODULES + train_language_model.CALIBRATION_MODULES
    )
    assert b"class TextWrapper" in texts.read_text("eval")
    assert b"class TextWrapper" not in texts.read_text("train")
    assert lzma.decompress(texts.TEXT_FILES["train"].read_bytes()) == texts.read_text("train")
    with pytest.raises(ValueError, match="split must be one of"):
        texts.read_text("test")


def test_the_shipped_model_loads_in_eval_mode_and_reaches_2_bits_per_byte(model):
    report = json.loads(language_model.SETTINGS_FILE.read_text())
    assert not model.training and isinstance(model.context_length, int)
    assert 1_000_000 <= sum(p.numel() for p in model.parameters()) <= 3_000_000
    assert language_model.WEIGHTS_FILE.stat().st_size <= 12 * 2**20
    measured = helper.bits_per_byte(model, texts.read_text("eval"))
    assert measured == pytest.approx(report["eval_bits_per_byte"], abs=1e-3)
    assert measured <= 2.0


def test_greedy_writing_is_repeatable_and_sampling_follows_its_seed(model):
    greedy = language_model.generate(model, "def ", 20)
    assert greedy.startswith("def ") and greedy == language_model.generate(model, "def ", 20)
    sampled = [
        language_model.generate(model, "import ", 40, temperature=1.0, seed=s) for s in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1] != sampled[2]
    assert language_model.generate(model, "x", 0) == "x"


def test_a_prompt_longer_than_the_context_is_cut_to_its_end(model):
    long = "# " + "a" * 300 + "\ndef "
    cut = long[-model.context_length :]
    assert (
        language_model.generate(model, long, 10)[len(long) :]
        == language_model.generate(model, cut, 10)[len(cut) :]
    )


def test_bad_prompts_and_settings_get_clear_errors(model):
    with pytest.raises(ValueError, match="prompt must not be empty"):
        language_model.generate(model, "", 5)
    with pytest.raises(ValueError, match="n_bytes"):
        language_model.generate(model, "x", -1)
    with pytest.raises(ValueError, match="temperature"):
        language_model.generate(model, "x", 5, temperature=0)


def test_missing_or_mismatched_weights_say_which_file_and_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.pt is missing.*train_language_model"):
        language_model.load(tmp_path / "nothing.pt")
    torch.save(language_model.ByteTransformer(TINY).state_dict(), tmp_path / "tiny.pt")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"config": asdict(language_model.ModelConfig())}))
    with pytest.raises(ValueError, match=r"tiny\.pt does not fit the model that .*settings\.json"):
        language_model.load(tmp_path / "tiny.pt", settings)


def test_the_training_script_runs_on_a_tiny_configuration(tmp_path):
    report = train_language_model.main(
        ["--steps", "3", "--d-model", "16", "--n-heads", "2", "--n-layers", "1",
         "--context-length", "16", "--batch-size", "4", "--warmup", "1", "--eval-every", "2",
         "--eval-bytes", "256", "--out", str(tmp_path)]
    )  # fmt: skip
    assert [point["step"] for point in report["curve"]] == [2, 3]
    trained = language_model.load(tmp_path / "language_model.pt", tmp_path / "language_model.json")
    assert trained.context_length == 16 and not trained.training
    assert helper.bits_per_byte(trained, texts.read_text("eval")[:512]) < 8.5


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    rates = [train_language_model.learning_rate(s, 100, 1.0, 10) for s in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[10] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))


def test_loading_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    language_model.load()
    assert torch.equal(torch.random.get_rng_state(), state)


# --- The KV cache (lesson L7-A) -------------------------------------------------------------------


def test_attention_written_out_is_the_fused_call():
    generator = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 9, 16, generator=generator, dtype=torch.float64)
    for new in (1, 4, 9):
        mask = language_model.causal_mask(new, 9)
        fused = torch.nn.functional.scaled_dot_product_attention(
            q[:, :, -new:], k, v, attn_mask=mask
        )
        assert torch.allclose(language_model.attention(q[:, :, -new:], k, v, mask), fused)
    assert torch.equal(language_model.causal_mask(9, 9), torch.ones(9, 9, dtype=torch.bool).tril())


def test_causal_mask_shows_the_cache_and_hides_the_future():
    assert language_model.causal_mask(2, 5).int().tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]


def test_cached_logits_are_the_uncached_ones(model):
    ids = texts.encode(texts.read_text("eval")[:40])[None]
    layers = [language_model.LayerCache(model.context_length) for _ in model.blocks]
    with torch.no_grad():
        whole = model(ids)
        first = model(ids[:, :30], layers)
        rest = [model(ids[:, t : t + 1], layers) for t in range(30, 40)]
    assert layers[0].length == 40 and layers[-1].keys.shape == (1, 4, 40, 32)
    cached = torch.cat([first, *rest], dim=1)
    assert torch.allclose(cached, whole, atol=1e-4)


def test_the_cache_writes_in_place_into_one_buffer(model):
    """Each step writes its keys and values after the earlier ones, in the buffer made at the
    first write: nothing kept is copied again, and what was written stays as it was."""
    ids = texts.encode(texts.read_text("eval")[:12])[None]
    cache = language_model.LayerCache(model.context_length)
    assert cache.keys is None and cache.length == 0
    with torch.no_grad():
        model.blocks[0](model.token_embedding(ids[:, :10]), cache)
        buffer, first = cache.buffer, cache.keys.clone()
        for t in (10, 11):
            model.blocks[0](model.token_embedding(ids[:, t : t + 1]), cache)
    assert cache.buffer is buffer and buffer.shape == (2, 1, 4, model.context_length, 32)
    assert cache.length == 12 and torch.equal(cache.keys[:, :, :10], first)
    assert cache.values.data_ptr() == buffer[1].data_ptr()
    with pytest.raises(ValueError, match="capacity"):
        language_model.LayerCache(0)


@pytest.mark.parametrize(
    ("prompt", "n_bytes"),
    [("def ", 100), ("    for i in range(", 60), ("class A:\n    def __init__(self", 130)],
    ids=["within-the-window", "short", "past-the-window"],
)
def test_greedy_text_with_the_cache_is_the_uncached_text(model, prompt, n_bytes):
    generate = language_model.generate
    assert generate(model, prompt, n_bytes, cache=True) == generate(model, prompt, n_bytes)


def test_sampled_text_with_the_cache_is_the_uncached_text(model):
    with_cache = language_model.generate(model, "import ", 50, temperature=0.8, seed=3, cache=True)
    assert with_cache == language_model.generate(model, "import ", 50, temperature=0.8, seed=3)


def test_packed_models_write_the_same_text_with_and_without_the_cache(model):
    for bits in (8, 4):
        packed = helper.pack_model(model, bits)
        with_cache = language_model.generate(packed, "def ", 40, cache=True)
        assert with_cache == language_model.generate(packed, "def ", 40)


def test_a_cache_cannot_grow_past_the_context(model):
    layers = [language_model.LayerCache(model.context_length) for _ in model.blocks]
    ids = texts.encode(texts.read_text("eval")[: model.context_length])[None]
    with torch.no_grad():
        model(ids, layers)
        with pytest.raises(ValueError, match="1 <= time <= 0"):
            model(ids[:, :1], layers)


def test_a_float64_copy_scores_as_the_model_does_and_leaves_it_alone(model):
    text = texts.read_text("eval")[:1024]
    quantized = helper.quantize_model(model, 4, "per-group", 32)
    exact = language_model.in_float64(quantized)
    assert next(model.parameters()).dtype == torch.float32
    layer, copied = (each.get_submodule("blocks.2.mlp.down") for each in (quantized, exact))
    assert torch.equal(copied.dequantized_weight(), layer.dequantized_weight().double())
    assert helper.bits_per_byte(exact, text) == pytest.approx(
        helper.bits_per_byte(quantized, text), abs=1e-5
    )
