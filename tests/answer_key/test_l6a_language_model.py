"""answer_key.l6a_language_model (L6-A): bits per byte, byte windows, activation outliers."""

import pytest
import torch

import helper


class UniformBytes(torch.nn.Module):
    """A model that knows nothing: every byte equally likely, whatever came before."""

    context_length = 16

    def forward(self, ids):
        return torch.zeros(*ids.shape, 256)


class Oracle(torch.nn.Module):
    """A model that puts all its weight on the true next byte of one fixed text."""

    context_length = 8

    def __init__(self, text: bytes):
        super().__init__()
        self.text = torch.tensor(list(text))
        self.calls = []

    def forward(self, ids):
        self.calls.append(tuple(ids.shape))
        logits = torch.full((*ids.shape, 256), -1e4)
        # each window starts where its first byte first occurs in the text (the text is distinct)
        starts = [int((self.text == int(row[0])).nonzero()[0]) for row in ids]
        for b, start in enumerate(starts):
            following = self.text[start + 1 : start + 1 + ids.shape[1]]
            logits[b, torch.arange(len(following)), following] = 0.0
        return logits


def test_l6a_a_model_that_knows_nothing_scores_8_bits_per_byte():
    data = bytes(range(100))
    assert helper.bits_per_byte(UniformBytes(), data) == pytest.approx(8.0, abs=1e-5)
    assert helper.bits_per_byte(UniformBytes(), torch.arange(100)) == pytest.approx(8.0, abs=1e-5)


def test_l6a_bits_per_byte_scores_every_byte_but_the_first_once_in_batched_windows():
    text = bytes(range(0, 250, 3))  # 84 distinct bytes: 83 predicted, in windows of 8
    oracle = Oracle(text)
    assert helper.bits_per_byte(oracle, text, batch_size=4) == pytest.approx(0.0, abs=1e-6)
    # 83 = 10 windows of 8 (in batches of 4, 4, 2) and a last window of 3
    assert oracle.calls == [(4, 8), (4, 8), (2, 8), (1, 3)]


def test_l6a_bits_per_byte_rejects_what_it_cannot_score():
    with pytest.raises(ValueError, match="at least 2 bytes"):
        helper.bits_per_byte(UniformBytes(), b"x")
    with pytest.raises(ValueError, match="byte values 0 to 255"):
        helper.bits_per_byte(UniformBytes(), torch.tensor([1, 256]))
    with pytest.raises(TypeError, match="bytes or a 1-D integer tensor"):
        helper.bits_per_byte(UniformBytes(), "text")
    with pytest.raises(ValueError, match="model.context_length"):
        helper.bits_per_byte(torch.nn.Linear(2, 2), b"abc")
    with pytest.raises(ValueError, match="batch_size"):
        helper.bits_per_byte(UniformBytes(), b"abc", batch_size=0)


def test_l6a_window_bits_scores_each_window_and_bits_per_byte_is_their_mean():
    text = bytes(range(0, 250, 3))[:81]  # 80 predicted bytes: 10 windows of 8
    windows = torch.tensor(list(text))[:81].unfold(0, 9, 8)
    assert helper.window_bits(Oracle(text), windows).abs().max() < 1e-6
    uniform = helper.window_bits(UniformBytes(), windows)
    assert uniform.dtype == torch.float64 and uniform.shape == (10,)
    assert torch.allclose(uniform, torch.full((10,), 8.0, dtype=torch.float64))
    with pytest.raises(TypeError, match="windows must be a 2-D integer tensor"):
        helper.window_bits(UniformBytes(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="windows must be 2 to 17 bytes long"):
        helper.window_bits(UniformBytes(), torch.zeros(3, 18, dtype=torch.long))


def test_l6a_byte_windows_cut_consecutive_windows_and_drop_the_tail():
    windows = helper.byte_windows(bytes(range(10)), 3)
    assert torch.equal(windows, torch.arange(9).view(3, 3))
    with pytest.raises(ValueError, match="fewer than one window"):
        helper.byte_windows(b"ab", 3)
    with pytest.raises(ValueError, match="length"):
        helper.byte_windows(b"abc", 0)


def test_l6a_channel_absmax_and_outlier_ratio():
    x = torch.tensor([[[1.0, -2.0, 0.5, 1.0]], [[-3.0, 1.0, 0.25, 40.0]]])  # (2, 1, 4)
    assert torch.equal(helper.channel_absmax(x), torch.tensor([3.0, 2.0, 0.5, 40.0]))
    assert helper.outlier_ratio(x) == pytest.approx(40.0 / 2.0)  # torch's median: the lower one
    assert helper.outlier_ratio(torch.zeros(3, 4)) == 0.0
    with pytest.raises(ValueError, match="at least one token"):
        helper.channel_absmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match="empty"):
        helper.channel_absmax(torch.zeros(0, 4))


def test_l6a_quantize_model_with_bits_per_layer_leaves_the_others_float():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    mixed = helper.quantize_model(model, {"0": 2}, "per-group", 32)
    assert isinstance(mixed[0], helper.QuantizedLinear) and mixed[0].bits == 2
    assert type(mixed[2]) is torch.nn.Linear and mixed[2] is not model[2]
    assert torch.equal(mixed[2].weight, model[2].weight)
    alone = helper.quantize_model(model[0], 2, "per-group", 32)
    assert torch.equal(mixed[0].dequantized_weight(), alone.dequantized_weight())
    both = helper.quantize_model(model, {"0": 8, "2": 4}, "per-channel")
    assert [m.bits for m in both if isinstance(m, helper.QuantizedLinear)] == [8, 4]
    with pytest.raises(ValueError, match=r"does not have: \['1'\].*\['0', '2'\]"):
        helper.quantize_model(model, {"1": 4}, "per-channel")
    with pytest.raises(ValueError, match="bits"):
        helper.quantize_model(model, {"0": 9}, "per-channel")


def test_l6a_logit_bits_is_window_bits_once_the_model_has_run():
    generator = torch.Generator().manual_seed(5)
    windows = torch.randint(0, 256, (6, 9), generator=generator)
    model = UniformBytes()
    logits = torch.randn(6, 8, 256, generator=generator)
    model.forward = lambda ids: logits[: len(ids)]
    assert torch.equal(
        helper.logit_bits(logits, windows[:, 1:]), helper.window_bits(model, windows)
    )
    # a window whose next bytes all get probability 1/256 scores 8 bits per byte
    assert helper.logit_bits(torch.zeros(1, 4, 256), windows[:1, 1:5]).item() == pytest.approx(8.0)


def test_l6a_logit_bits_rejects_mismatched_shapes_and_float_targets():
    with pytest.raises(ValueError, match="logits must be"):
        helper.logit_bits(torch.zeros(2, 4, 256), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="targets must be an integer tensor"):
        helper.logit_bits(torch.zeros(2, 4, 256), torch.zeros(2, 4))
