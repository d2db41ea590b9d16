"""The SR models: shapes, value ranges, loss terms, gradient flow and the ablation switches."""

import pytest
import torch

from sr_core.models import create_model, list_models

FAST = {"sr_vmamba_tiny": {"depths": [1, 1, 1, 1]}, "sr_resnet50": {"layers": [1, 1, 1, 1]}}


def test_registry_lists_the_three_required_models():
    assert {"sr_vmamba_tiny", "sr_vmamba_nano", "sr_resnet50"} <= set(list_models())


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_budgets():
    tiny = create_model("sr_vmamba_tiny")
    # VMamba tiny 0220 backbone: about 30M parameters (31.7M with the official head).
    assert 29e6 < count(tiny.backbone) < 33e6
    assert count(create_model("sr_vmamba_nano")) <= 5e6


@pytest.mark.parametrize("name", ["sr_vmamba_tiny", "sr_vmamba_nano", "sr_resnet50"])
@pytest.mark.parametrize("size", [256, 320])
def test_outputs_follow_the_input_size(name, size):
    torch.manual_seed(0)
    model = create_model(name, num_classes=8, **FAST.get(name, {})).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    stride = 16 if "resnet" in name else 32
    h = size // stride
    assert out["logits"].shape == (2, 8)
    assert out["class_maps"].shape == (2, 8, h, h)
    assert out["fpm"].shape == (2, 1, h, h)
    assert "losses" not in out
    maps = out["class_maps"]
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    # Min-max per (sample, class): every map spans [0, 1] unless it is constant.
    assert torch.allclose(maps.amax(dim=(2, 3)), torch.ones(2, 8), atol=1e-4)


def test_non_square_input():
    model = create_model("sr_vmamba_nano").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 320))
    assert out["class_maps"].shape == (1, 8, 8, 10)


def test_training_returns_each_loss_term_and_their_weighted_total():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano").train()
    out = model(torch.randn(2, 3, 64, 64), torch.tensor([1, 5]))
    losses = out["losses"]
    assert set(losses) == {"ce", "ce_fpm", "control", "area", "abnormal", "total"}
    assert losses["abnormal"].item() == 0  # off by default
    cfg = model.head_cfg
    expected = losses["ce"] + cfg.fpm_ce_weight * losses["ce_fpm"] + cfg.control_weight * losses["control"] \
        + cfg.area_weight * losses["area"]
    torch.testing.assert_close(losses["total"], expected)
    assert 0 < losses["area"].item() < 1


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {n: p.grad for n, p in model.named_parameters()}


def test_gradients_reach_learnable_parameters_and_never_the_frozen_copies():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", drop_path_rate=0.0, control_margin=10.0).train()
    out = model(torch.randn(2, 3, 64, 64), torch.tensor([0, 3]))
    grads = _grads(model, out["losses"]["total"])
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert not [n for n, g in grads.items() if g.abs().sum() == 0 and "A_logs" not in n]

    # The control hinge (made active by a high margin) trains the FPM and the features that
    # feed it, never the stage-4 / head copies it runs through. (The shared LayerNorm also
    # makes x_loc, which feeds the FPM, so it does learn from this term.)
    assert float(out["losses"]["control"].detach()) > 0
    grads = _grads(model, out["losses"]["control"])
    frozen = [n for n in grads if n.startswith(("backbone.stage4", "cam."))]
    assert frozen and all(grads[n] is None for n in frozen)
    assert grads["fpm_generator.conv_a.weight"].abs().sum() > 0
    assert grads["backbone.patch_embed.conv1.weight"].abs().sum() > 0


def test_total_loss_falls_on_a_tiny_batch():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", drop_path_rate=0.0).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(8):
        loss = model(images, labels)["losses"]["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        totals.append(float(loss.detach()))
    assert totals[-1] < 0.8 * totals[0], totals


@pytest.mark.parametrize(
    "overrides",
    [{"modulation": False}, {"fusion": False}, {"control": "background"}, {"control": "none"}, {"fpm": False}],
)
def test_ablation_switches_build_and_train(overrides):
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", **overrides).train()
    out = model(torch.randn(2, 3, 64, 64), torch.tensor([2, 7]))
    out["losses"]["total"].backward()
    assert out["class_maps"].shape == (2, 8, 2, 2)
    if overrides == {"fpm": False}:
        assert model.fpm_generator is None and float(out["losses"]["area"]) == 0
    if overrides == {"fusion": False}:
        assert not hasattr(model.fpm_generator, "conv_b")


def test_unknown_override_and_model_name_are_clear_errors():
    with pytest.raises(ValueError, match="unknown option 'modulaton'"):
        create_model("sr_vmamba_nano", modulaton=False)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("sr_vmamba_huge")
    with pytest.raises(ValueError, match="control must be one of"):
        create_model("sr_vmamba_nano", control="sideways")


def test_eval_fpm_averages_the_topk_predicted_classes():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", topk=1).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    top = out["logits"].argmax(1)
    torch.testing.assert_close(out["fpm"][:, 0], out["class_maps"][torch.arange(1), top])


def test_fpm_feature_grad_off_keeps_the_fpm_losses_out_of_the_backbone():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", fpm_feature_grad=False, drop_path_rate=0.0, control_margin=10.0).train()
    out = model(torch.randn(2, 3, 64, 64), torch.tensor([1, 4]))
    losses = out["losses"]
    assert losses["control"].item() > 0
    grads = _grads(model, losses["area"] + losses["control"])
    assert grads["fpm_generator.conv_a.weight"].abs().sum() > 0
    backbone = [n for n in grads if n.startswith("backbone.")]
    assert backbone and all(grads[n] is None for n in backbone)
    # With the published setting the same terms do reach the backbone.
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", drop_path_rate=0.0, control_margin=10.0).train()
    losses = model(torch.randn(2, 3, 64, 64), torch.tensor([1, 4]))["losses"]
    grads = _grads(model, losses["area"] + losses["control"])
    assert grads["backbone.patch_embed.conv1.weight"].abs().sum() > 0


@pytest.mark.parametrize("mask", ["label", "predicted"])
def test_fpm_ce_mask_predicted_takes_the_label_out_of_score_2(mask):
    # ce_fpm(label=c) = logsumexp(score_2) - score_2[c]; if score_2 does not depend on the
    # label, exp(-ce_fpm) over all labels is a softmax and sums to 1.
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", fpm_ce_mask=mask, drop_path_rate=0.0).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        total = sum(torch.exp(-model(x, torch.tensor([c]))["losses"]["ce_fpm"]) for c in range(8))
    if mask == "predicted":
        assert abs(total.item() - 1.0) < 1e-4
    else:
        assert abs(total.item() - 1.0) > 1e-3  # the label-built mask changes score_2 itself


@pytest.mark.parametrize("overrides", [{"fpm": False}, {}])
def test_negatives_train_only_the_abnormal_term(overrides):
    """Label -1 (NEGATIVE): no part in the per-class terms, a 'normal' target in the abnormal term."""
    import torch.nn.functional as F

    from sr_core.data.datasets import NEGATIVE

    torch.manual_seed(0)
    # eval(): per-sample statistics, so the positives' terms can be compared with a batch of them alone
    model = create_model("sr_vmamba_nano", abnormal_weight=0.5, **overrides).eval()
    images = torch.randn(4, 3, 64, 64)
    labels = torch.tensor([1, NEGATIVE, 5, NEGATIVE])
    positive = labels >= 0
    losses = model(images, labels)["losses"]
    alone = model(images[positive], labels[positive])["losses"]
    for term in ("ce", "ce_fpm", "control", "area"):
        torch.testing.assert_close(losses[term], alone[term])
    score = torch.logsumexp(model(images)["logits"], 1) - model.abnormal_bias
    torch.testing.assert_close(losses["abnormal"], F.binary_cross_entropy_with_logits(score, positive.float()))
    torch.testing.assert_close(losses["total"] - 0.5 * losses["abnormal"], alone["total"] - 0.5 * alone["abnormal"])
    losses["total"].backward()
    assert model.abnormal_bias.grad is not None and torch.isfinite(model.abnormal_bias.grad)


@pytest.mark.parametrize("overrides", [{"fpm": False}, {}])
def test_a_batch_of_negatives_only_has_finite_losses(overrides):
    from sr_core.data.datasets import NEGATIVE

    model = create_model("sr_vmamba_nano", abnormal_weight=1.0, **overrides).train()
    losses = model(torch.randn(2, 3, 64, 64), torch.tensor([NEGATIVE, NEGATIVE]))["losses"]
    assert losses["ce"].item() == 0 and losses["abnormal"].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()


def test_without_abnormal_weight_the_model_has_no_abnormal_parameter():
    assert create_model("sr_vmamba_nano").abnormal_bias is None
    assert "abnormal_bias" in dict(create_model("sr_vmamba_nano", abnormal_weight=1.0).named_parameters())
