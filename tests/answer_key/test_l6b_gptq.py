"""Lesson L6-B's GPTQ (helper.hessian_from_inputs, gptq_quantize, gptq_quantize_model), pinned
down by its properties: with H = I it is round-to-nearest; every block size gives the result of
one column at a time; it agrees with the paper's plain algorithm written out below; it lowers
each layer's output error below round-to-nearest's; bad input gets a clear error."""

import pytest
import torch

import helper
from course import language_model, texts


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """GPTQ's column loop is thousands of small operations: on a busy 2-core machine two
    threads pass each one back and forth and run many times slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SETTINGS = [("per-channel", None), ("per-group", 16), ("per-group", 32), ("per-tensor", None)]


def random_layer(seed: int, rows: int = 24, columns: int = 64, samples: int = 400):
    """A weight (rows, columns) and the Hessian of correlated, unevenly scaled inputs."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(rows, columns, generator=generator)
    mixing = torch.randn(columns, columns, generator=generator) / columns**0.5
    sizes = torch.logspace(-1, 1, columns)[torch.randperm(columns, generator=generator)]
    inputs = (torch.randn(samples, columns, generator=generator) @ mixing + 0.3) * sizes
    return weight, helper.hessian_from_inputs(inputs)


def dequantized(q, scale, shape, granularity, group_size):
    block = helper.block_size_for(shape, granularity, dim=0, group_size=group_size)
    return helper.dequantize_blocks(q, scale.float(), 0, block)


def plain_gptq(weight, hessian, bits, granularity, group_size, damp=0.01):
    """The paper's algorithm with no Cholesky factor and no blocks: quantize column j, spread
    its error with row j of the inverse Hessian, then remove j from the inverse (OBS)."""
    work, columns = weight.double().clone(), weight.shape[1]
    hessian = hessian.double().clone()
    hessian.diagonal().add_(damp * hessian.diagonal().mean())
    inverse = torch.linalg.inv(hessian)
    width = columns if granularity != "per-group" else group_size
    q_max = 2 ** (bits - 1) - 1
    q = torch.zeros(weight.shape, dtype=torch.int8)
    scales = []
    for j in range(columns):
        if j % width == 0:  # the same scale rule as quantize_weight_symmetric, on W as it is now
            part = work[:, j : j + width].float()
            rule = "per-channel" if granularity == "per-group" else granularity
            _, scale = helper.quantize_weight_symmetric(part, bits, rule)
            scales.append(scale)
            row_scale = scale.double().expand(weight.shape[0], 1).reshape(-1)
        q[:, j] = (work[:, j] / row_scale).round().clamp(-q_max - 1, q_max).to(torch.int8)
        error = (work[:, j] - row_scale * q[:, j]) / inverse[j, j]
        work[:, j:] -= torch.outer(error, inverse[j, j:])
        inverse -= torch.outer(inverse[:, j], inverse[j, :]) / inverse[j, j]
    return q, torch.cat(scales, dim=1)


@pytest.mark.parametrize(("granularity", "group_size"), SETTINGS)
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_identity_hessian_is_round_to_nearest(bits, granularity, group_size):
    weight, _ = random_layer(bits)
    expected = helper.quantize_weight_symmetric(weight, bits, granularity, group_size)
    got = helper.gptq_quantize(weight, torch.eye(64), bits, granularity, group_size)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert got[1].dtype == expected[1].dtype and got[1].shape == expected[1].shape


@pytest.mark.parametrize(("granularity", "group_size"), SETTINGS)
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_reference_grid_divides_the_largest_weight_by_q_max_plus_a_half(
    bits, granularity, group_size
):
    """With H = I, grid="reference" is round-to-nearest on the reference code's grid: each
    block's scale is max|w| / (q_max + 1/2), its levels -q_max - 1 .. q_max."""
    weight, _ = random_layer(20 + bits)
    q, scale = helper.gptq_quantize(
        weight, torch.eye(64), bits, granularity, group_size, scale_dtype=torch.float32,
        grid="reference",
    )  # fmt: skip
    q_max = 2 ** (bits - 1) - 1
    block = (weight.shape[0], 64) if granularity == "per-tensor" else (1, group_size or 64)
    top = weight.abs().reshape(-1, block[0], weight.shape[1] // block[1], block[1])
    top = top.amax(dim=(1, 3)).reshape(scale.shape)
    assert scale == pytest.approx(top / (q_max + 0.5), rel=1e-6)
    restored = scale.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)
    expected = (weight.double() / restored.double()).round().clamp(-q_max - 1, q_max)
    expected = expected.to(torch.int8)  # divided in float64, as GPTQ divides
    assert torch.equal(q, expected)
    assert int(q.min()) >= -q_max - 1 and int(q.max()) == q_max  # the largest weight clamps


def test_grid_must_be_course_or_reference():
    weight, hessian = random_layer(8)
    with pytest.raises(ValueError, match="grid must be 'course' or 'reference', got 'torchao'"):
        helper.gptq_quantize(weight, hessian, 3, grid="torchao")


@pytest.mark.parametrize(("granularity", "group_size"), SETTINGS)
@pytest.mark.parametrize("block_size", [2, 5, 16, 24, 33, 64, 1000])
def test_every_block_size_gives_the_result_of_one_column_at_a_time(
    block_size, granularity, group_size
):
    weight, hessian = random_layer(1)
    one = helper.gptq_quantize(weight, hessian, 3, granularity, group_size, block_size=1)
    blocked = helper.gptq_quantize(weight, hessian, 3, granularity, group_size, block_size)
    assert torch.equal(blocked[0], one[0]) and torch.equal(blocked[1], one[1])


@pytest.mark.parametrize(("granularity", "group_size"), SETTINGS)
@pytest.mark.parametrize(("bits", "seed"), [(2, 0), (3, 1), (4, 2), (8, 3)])
def test_agrees_with_the_plain_unblocked_algorithm(bits, seed, granularity, group_size):
    weight, hessian = random_layer(seed)
    q, scale = helper.gptq_quantize(weight, hessian, bits, granularity, group_size)
    q_plain, scale_plain = plain_gptq(weight, hessian, bits, granularity, group_size)
    assert torch.equal(scale, scale_plain.reshape(scale.shape))
    assert torch.equal(q, q_plain)


@pytest.mark.parametrize(("granularity", "group_size"), SETTINGS)
@pytest.mark.parametrize("bits", [3, 4])
def test_output_error_is_lower_than_round_to_nearest(bits, granularity, group_size):
    weight, hessian = random_layer(10 + bits)
    rtn = helper.quantize_weight_symmetric(weight, bits, granularity, group_size)
    gptq = helper.gptq_quantize(weight, hessian, bits, granularity, group_size)
    errors = [
        helper.layer_objective(
            weight, dequantized(*pair, weight.shape, granularity, group_size), hessian
        )
        for pair in (rtn, gptq)
    ]
    assert errors[1] < 0.8 * errors[0]


def test_layer_objective_is_the_mean_squared_output_error():
    weight, _ = random_layer(4)
    inputs = torch.randn(50, 64, dtype=torch.float64)
    other = weight + 0.1 * torch.randn_like(weight)
    expected = ((inputs @ weight.double().T - inputs @ other.double().T) ** 2).sum(dim=1).mean()
    got = helper.layer_objective(weight, other, helper.hessian_from_inputs(inputs))
    assert got == pytest.approx(float(expected), rel=1e-12)


def test_hessian_from_inputs_is_2_xtx_over_n_for_any_leading_axes():
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    rows = x.reshape(15, 8)
    assert torch.allclose(helper.hessian_from_inputs(x), 2 * rows.T @ rows / 15)
    assert helper.hessian_from_inputs(x.float()).dtype == torch.float64  # whatever x is


def test_dead_inputs_get_weight_zero_and_the_hessian_is_left_alone():
    weight, hessian = random_layer(5)
    hessian = hessian.double()
    hessian[:, 7] = hessian[7, :] = 0
    before = hessian.clone()
    q, _ = helper.gptq_quantize(weight, hessian, 4)
    assert not q[:, 7].any()
    assert torch.equal(hessian, before)
    assert weight.abs().min() >= 0  # the weight itself is not modified
    assert torch.equal(weight, random_layer(5)[0])


def test_quantized_linear_holds_the_result():
    weight, hessian = random_layer(6)
    linear = torch.nn.Linear(64, 24)
    with torch.no_grad():
        linear.weight.copy_(weight)
    layer = helper.QuantizedLinear.from_linear(linear, 4, "per-group", 32)
    q, layer.scale = helper.gptq_quantize(weight, hessian, 4, "per-group", 32)
    layer.weight_q = helper.pack_weights(q, 4)
    assert torch.equal(layer.int_weight(), q)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"hessian": torch.eye(63)}, ValueError, r"hessian must be \(in_features, in_features\)"),
        ({"hessian": torch.eye(64) + torch.triu(torch.ones(64, 64), 1)}, ValueError, "symmetric"),
        ({"hessian": -torch.eye(64)}, ValueError, "not positive definite"),
        ({"hessian": torch.eye(64, dtype=torch.int32)}, TypeError, "hessian must be a floating"),
        ({"hessian": torch.full((64, 64), float("nan"))}, ValueError, "NaN"),
        ({"damp": 0}, ValueError, "damp must be a number > 0"),
        ({"damp": -0.1}, ValueError, "damp must be a number > 0"),
        ({"damp": "0.01"}, ValueError, "damp must be a number > 0"),
        ({"granularity": "per-group", "group_size": 48}, ValueError, "group_size 48 must divide"),
        ({"granularity": "per-group"}, ValueError, "group_size must be a positive int"),
        ({"granularity": "per-row"}, ValueError, "granularity must be"),
        ({"bits": 1}, ValueError, "bits must be an int from 2 to 8"),
        ({"block_size": 0}, ValueError, "block_size must be a positive int"),
        ({"weight": torch.zeros(2, 3, 64)}, ValueError, "weight must be 2-D"),
        ({"weight": torch.zeros(24, 64, dtype=torch.int8)}, TypeError, "weight must be a float"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, error, message):
    weight, hessian = random_layer(7)
    arguments = {"weight": weight, "hessian": hessian, **kwargs}
    with pytest.raises(error, match=message):
        helper.gptq_quantize(**arguments)


def test_hessian_from_inputs_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN or infinite"):
        helper.hessian_from_inputs(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        helper.hessian_from_inputs(torch.ones(3, 2, dtype=torch.long))


# --- the whole model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model():
    """An untrained, small ByteTransformer and calibration windows from the course's text."""
    torch.manual_seed(0)
    config = language_model.ModelConfig(d_model=64, n_layers=2, context_length=32)
    model = language_model.ByteTransformer(config).eval()
    text = texts.encode(texts.read_text("calibration"))
    return model, text[: 8 * 32].view(8, 32)


def linear_inputs(model, batch):
    """Every nn.Linear's input on ``model(batch)``, by name, captured with forward hooks."""
    inputs = {}

    def keep(name):
        def hook(module, args, output):
            inputs[name] = args[0]

        return hook

    hooks = [
        module.register_forward_hook(keep(name))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    ]
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    return inputs


def test_model_layers_are_quantized_in_order_on_the_quantized_inputs(small_model):
    model, windows = small_model
    before = {name: p.clone() for name, p in model.state_dict().items()}
    quantized = helper.gptq_quantize_model(model, windows, 3, "per-group", 32)
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    layers = dict(quantized.named_modules())
    assert all(isinstance(layers[name], helper.QuantizedLinear) for name in names)
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.modules())
    # Redo it by hand, one layer at a time: each on the inputs of the model quantized so far.
    done = {}
    for name in names:
        partial = helper.convert_linears(model, lambda n, linear: done.get(n, linear))
        x = linear_inputs(partial, windows)[name]
        linear = model.get_submodule(name)
        q, scale = helper.gptq_quantize(
            linear.weight, helper.hessian_from_inputs(x), 3, "per-group", 32
        )
        assert torch.equal(layers[name].int_weight(), q), name
        assert torch.equal(layers[name].scale, scale), name
        done[name] = layers[name]


def test_model_at_8_bits_stays_close_to_fp32(small_model):
    model, windows = small_model
    quantized = helper.gptq_quantize_model(model, windows, 8)
    with torch.no_grad():
        assert torch.allclose(quantized(windows), model(windows), atol=0.05)


def test_model_bad_input(small_model):
    windows = small_model[1]
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        helper.gptq_quantize_model("model", windows, 4)

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match=r"never reached the linear layers \['unused'\]"):
        helper.gptq_quantize_model(TwoHeads(), torch.randn(8, 4), 4)


def test_bare_linear_layer():
    linear = torch.nn.Linear(64, 24)
    x = torch.randn(100, 64)
    layer = helper.gptq_quantize_model(linear, x, 4)
    q, scale = helper.gptq_quantize(linear.weight, helper.hessian_from_inputs(x), 4)
    assert isinstance(layer, helper.QuantizedLinear)
    assert torch.equal(layer.int_weight(), q) and torch.equal(layer.scale, scale)


@pytest.fixture(scope="module")
def course_model():
    """The course's trained language model when its weights are there, else an untrained one."""
    try:
        model = language_model.load()
    except FileNotFoundError:
        torch.manual_seed(0)
        model = language_model.ByteTransformer().eval()
    text = texts.encode(texts.read_text("calibration"))
    windows = text[: 16 * model.context_length].view(16, model.context_length)
    return model, linear_inputs(model, windows)


@pytest.mark.parametrize("bits", [4, 3])
def test_lower_layer_objective_than_rtn_on_every_layer_of_the_language_model(course_model, bits):
    model, inputs = course_model
    for name, x in inputs.items():
        weight, hessian = model.get_submodule(name).weight.detach(), helper.hessian_from_inputs(x)
        rtn = helper.quantize_weight_symmetric(weight, bits)
        gptq = helper.gptq_quantize(weight, hessian, bits)
        objectives = [
            helper.layer_objective(
                weight, dequantized(*p, weight.shape, "per-channel", None), hessian
            )
            for p in (rtn, gptq)
        ]
        assert objectives[1] < objectives[0], name


def test_gptq_quantize_model_gives_the_same_integers_on_1_and_2_threads(small_model):
    """The calibration pass and every H are float64: a float32 sum, ordered as the threads
    split it, would move GPTQ's chain of rounding decisions."""
    model, windows = small_model
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            quantized = helper.gptq_quantize_model(model, windows, 3, "per-group", 32)
            results.append([m.int_weight() for m in quantized.modules() if hasattr(m, "bits")])
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*results))
