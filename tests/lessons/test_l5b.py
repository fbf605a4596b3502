"""course.lessons.l5b (L5-B, the same in torchao): its plots, widget, checker and runs."""

import torch

from course.lessons import l5b


def test_explore_torchao_convention_names_each_error_and_never_runs_torchao_on_a_change(
    monkeypatch,
):
    from course import torchao_bridge

    explorer = l5b.explore_torchao_convention(bits=4)
    assert (
        explorer.labels["mse"] == "MSE, helper" and explorer.labels["mse_torchao"] == "MSE, torchao"
    )
    monkeypatch.setattr(torchao_bridge, "quantized_copy", None)  # torchao now would fail
    for bits in range(2, 9):
        explorer.controls["bits"].value = bits
        for name in explorer.controls["granularity"].options:
            explorer.controls["granularity"].value = name
            assert explorer.readout["mse"] > 0 and explorer.readout["mse_torchao"] > 0


def asymmetric_per_token(x):
    low = x.amin(dim=-1, keepdim=True).clamp(max=0)
    high = x.amax(dim=-1, keepdim=True).clamp(min=0)
    scale = ((high - low) / 255).clamp(min=torch.finfo(torch.float32).smallest_normal)
    zero_point = (-128 - torch.round(low / scale)).clamp(-128, 127)
    q = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, -128, 127)
    return q.to(torch.int8), scale, zero_point.to(torch.int8)


def asymmetric_per_token_not_widened(x):  # wrong: the row's own range, 0 not in it
    low, high = x.amin(dim=-1, keepdim=True), x.amax(dim=-1, keepdim=True)
    scale = ((high - low) / 255).clamp(min=torch.finfo(torch.float32).smallest_normal)
    zero_point = (-128 - torch.round(low / scale)).clamp(-128, 127)
    q = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, -128, 127)
    return q.to(torch.int8), scale, zero_point.to(torch.int8)


def asymmetric_per_token_divided(x):  # wrong: divides by the scale, as helper does
    q, scale, zero_point = asymmetric_per_token(x)
    q = torch.clamp(torch.round(x / scale) + zero_point, -128, 127)
    return q.to(torch.int8), scale, zero_point


def asymmetric_per_token_one_scale(x):  # wrong: one range for the whole tensor
    flat = asymmetric_per_token(x.reshape(1, -1))
    keep = (*x.shape[:-1], 1)
    return flat[0].reshape(x.shape), flat[1].expand(keep), flat[2].expand(keep)


def test_asymmetric_per_token_checker_passes_a_right_answer_and_names_a_wrong_one():
    from course.lessons import l5b

    check = l5b.check_torchao_asymmetric_per_token
    assert check(asymmetric_per_token).status == "pass"
    expected = {
        asymmetric_per_token_not_widened: "input 1 of 7, values in (0, 1): each row's range "
        "widens down to 0, so its zero point is -128",
        asymmetric_per_token_divided: "input 2 of 7, values halfway between two levels",
        asymmetric_per_token_one_scale: "input 1 of 7, values in (0, 1)",
    }
    for wrong, named in expected.items():
        verdict = check(wrong)
        assert verdict.status == "mismatch" and named in verdict.message, verdict.message
    assert check(lambda x: 1 / 0).status == "error"

    def stub(x):
        raise NotImplementedError

    assert check(stub).message.startswith("Not done yet: fill in torchao_asymmetric_per_token")
