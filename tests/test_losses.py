"""Known answers for every loss; the relativistic GAN losses against a float64 transcription of the paper."""

import math

import pytest
import torch

from srlib import losses
from srlib.train.config import TrainConfig


def test_pixel_losses_known_answers():
    sr, hr = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert losses.l1_loss(sr, hr).item() == pytest.approx(0.5)
    assert losses.mse_loss(sr, hr).item() == pytest.approx(0.25)
    assert losses.charbonnier_loss(sr, hr, eps=1e-3).item() == pytest.approx(math.sqrt(0.25 + 1e-6))
    assert losses.charbonnier_loss(hr, hr, eps=1e-3).item() == pytest.approx(1e-3)


def test_low_pass_pixel_loss_frees_fine_detail_and_pins_colour():
    loss = losses.LowPassPixelLoss(losses.l1_loss, sigma=1.5)
    hr = torch.rand(2, 3, 32, 32)
    checker = ((torch.arange(32)[:, None] + torch.arange(32)) % 2).float() * 0.2 - 0.1  # +-0.1, period 2
    tinted = hr + 0.1
    assert float(loss(tinted, hr)) == pytest.approx(0.1, abs=1e-5)  # a tint costs what plain L1 says
    assert float(loss(hr + checker, hr)) < 0.01 * float(losses.l1_loss(hr + checker, hr))  # fine detail: ~free
    with pytest.raises(ValueError, match="pixel_low_pass needs a GAN mode"):
        TrainConfig(pixel_low_pass=1.5)


def test_gradient_variance_loss_wants_detail_but_not_its_phase():
    torch.manual_seed(0)
    gv = losses.GradientVarianceLoss(patch=8)
    hr = torch.rand(1, 3, 64, 64)
    assert float(gv(hr, hr)) == 0
    shifted = torch.roll(hr, shifts=(0, 1), dims=(2, 3))  # the same texture, one pixel off: L1 is large
    flat = torch.full_like(hr, 0.5)  # no texture at all
    assert float(gv(shifted, hr)) < 0.1 * float(gv(flat, hr))
    assert float(losses.l1_loss(shifted, hr)) > 0.5 * float(losses.l1_loss(flat, hr))
    # A faint copy (what a PSNR model gives) is pushed towards more texture. A perfectly flat image gets no
    # push at all: the variance is stationary there, so this term needs a start with some detail.
    sr = (0.4 + 0.2 * hr).requires_grad_(True)
    loss = gv(sr, hr)
    loss.backward()
    with torch.no_grad():
        stepped = sr - 0.5 * sr.grad / sr.grad.abs().max()
    assert float(gv(stepped, hr)) < loss.item()
    assert gv.patch_variances(stepped).mean() > gv.patch_variances(sr).mean()
    with pytest.raises(ValueError, match="divisible by 8"):
        gv(hr[..., :60], hr[..., :60])


def test_ldl_artifact_map_flags_speckles_where_g_is_worse_than_its_ema():
    torch.manual_seed(0)
    hr = torch.full((1, 3, 32, 32), 0.5)
    sr = hr.clone()
    sr[..., 10, 10] += 0.4  # an isolated speckle: the residual jumps there
    sr[..., 20:, :] += 0.05  # a smooth offset: constant residual, no local variance inside it
    ema_right = hr.clone()  # the EMA is exact: wherever G deviates, it is worse than its EMA
    weight = losses.artifact_map(sr, hr, ema_right)
    assert weight[0, 0, 8:13, 8:13].min() > 0  # the speckle and its 7x7 neighbourhood
    assert weight[0, 0, 24:, 4:28].abs().max() < 1e-6  # inside the smooth offset: no local variance
    assert losses.artifact_map(sr, hr, hr + 0.6).abs().max() == 0  # G better than its EMA everywhere: no weight
    x = sr.clone().requires_grad_(True)
    losses.artifact_loss(x, hr, ema_right).backward()
    assert x.grad[0, :, 10, 10].min() > 0 and x.grad[0, :, 0, 0].abs().max() == 0  # pushed down at the speckle
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(mode="esrgan", discriminator="unet_discriminator", artifact_weight=1.0)


def test_srnet_feature_loss_uses_the_first_blocks_of_a_frozen_rrdbnet():
    from srlib.models import build_model

    torch.manual_seed(0)
    net = build_model("rrdbnet", num_feat=8, num_block=3, num_grow_ch=4)
    loss = losses.SRNetFeatureLoss(net, blocks=2)
    assert len(loss.body) == 2 and not any(p.requires_grad for p in loss.parameters())
    assert not loss.train().training  # stays in eval mode inside a training model
    hr = torch.rand(2, 3, 16, 16)
    assert loss(hr, hr).item() == 0.0
    sr = (hr + 0.05 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    expected = [net.conv_first(sr)]
    expected += [net.body[0](expected[0])]
    expected += [net.body[1](expected[1])]
    target = [net.conv_first(hr)]
    target += [net.body[0](target[0])]
    target += [net.body[1](target[1])]
    by_hand = sum((a - b).abs().mean() for a, b in zip(expected, target, strict=True)) / 3
    torch.testing.assert_close(value, by_hand)
    value.backward()
    assert sr.grad.abs().sum() > 0 and net.conv_first.weight.grad is None  # a copy: the source net is untouched
    with pytest.raises(ValueError, match="RRDBNet"):
        losses.SRNetFeatureLoss(build_model("msrresnet", num_feat=8, num_block=1))


def test_vgg19_layer_names_follow_torchvision_indices():
    names = losses.vgg19_layer_names()
    assert len(names) == 37
    assert names[34] == "conv5_4" and names[35] == "relu5_4" and names[8] == "relu2_2"


@pytest.fixture(scope="module")
def random_vgg():
    with pytest.warns(UserWarning, match="structure tests only"):
        return losses.VGGFeatureExtractor(["conv1_2", "relu1_2", "conv2_1"], weights="random")


def test_pre_activation_features_are_not_overwritten_by_relu(random_vgg):
    features = random_vgg(torch.rand(1, 3, 16, 16))
    assert (features["conv1_2"] < 0).any()  # would be all >= 0 if an in-place ReLU had run over it
    assert torch.equal(features["relu1_2"], features["conv1_2"].clamp(min=0))
    assert features["conv2_1"].shape == (1, 128, 8, 8)


def test_feature_extractor_is_frozen_and_stays_in_eval(random_vgg):
    random_vgg.train()
    assert not random_vgg.training
    assert not any(p.requires_grad for p in random_vgg.parameters())


def test_perceptual_loss_zero_on_identical_and_gradient_flows():
    with pytest.warns(UserWarning):
        loss_fn = losses.PerceptualLoss({"conv2_1": 1.0}, weights="random")
    hr = torch.rand(1, 3, 16, 16)
    assert loss_fn(hr, hr).item() == 0.0
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss_fn(sr, hr).backward()
    assert sr.grad.abs().sum() > 0


def test_unknown_vgg_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="conv5_4"):
        losses.VGGFeatureExtractor(["conv6_1"], weights="random")


def test_missing_imagenet_weights_say_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_VGG19_WEIGHTS", str(tmp_path / "vgg19.pth"))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "vgg19.pth")):
        losses.load_vgg19_state_dict()


def test_ragan_losses_match_the_paper_formulas_in_float64():
    real = torch.randn(8, 1, dtype=torch.float64)
    fake = torch.randn(8, 1, dtype=torch.float64)

    def d_ra(a, b):  # sigmoid(C(a) - E[C(b)])
        return torch.sigmoid(a - b.mean())

    expected_d = -torch.log(d_ra(real, fake)).mean() - torch.log(1 - d_ra(fake, real)).mean()
    expected_g = -torch.log(1 - d_ra(real, fake)).mean() - torch.log(d_ra(fake, real)).mean()
    assert losses.ragan_loss_d(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-12)
    assert losses.ragan_loss_g(real, fake).item() == pytest.approx(expected_g.item(), rel=1e-12)


def test_standard_gan_losses_known_answers():
    zero = torch.zeros(4, 1)
    assert losses.gan_loss_d(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert losses.gan_loss_g(zero).item() == pytest.approx(math.log(2))
    confident = torch.full((4, 1), 20.0)
    assert losses.gan_loss_g(confident).item() < 1e-8
    assert losses.gan_loss_d(confident, -confident).item() < 1e-8


def test_esrgan_objective_is_the_weighted_sum_of_its_terms():
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    real, fake = torch.randn(2, 1), torch.randn(2, 1)
    perceptual = lambda a, b: torch.tensor(3.0)  # stand-in with a known value
    terms = losses.esrgan_generator_loss(sr, hr, real, fake, perceptual)
    expected = 3.0 + 5e-3 * losses.ragan_loss_g(real, fake) + 1e-2 * losses.l1_loss(sr, hr)
    assert terms["total"].item() == pytest.approx(expected.item())
    assert losses.ESRGANWeights() == losses.ESRGANWeights(perceptual=1.0, adversarial=5e-3, pixel=1e-2)
    assert list(terms) == ["pixel", "perceptual", "adversarial", "total"]  # the training log's columns


def test_esrgan_objective_without_perceptual_drops_that_term():
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    real, fake = torch.randn(2, 1), torch.randn(2, 1)
    terms = losses.esrgan_generator_loss(sr, hr, real, fake, None)
    assert "perceptual" not in terms
    expected = 1e-2 * losses.l1_loss(sr, hr) + 5e-3 * losses.ragan_loss_g(real, fake)
    assert terms["total"].item() == pytest.approx(expected.item())


def test_srgan_objective_defaults_to_mse_content_plus_1e3_adversarial():
    sr, hr, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.randn(2, 1)
    terms = losses.srgan_generator_loss(sr, hr, fake)
    expected = losses.mse_loss(sr, hr) + 1e-3 * losses.gan_loss_g(fake)
    assert terms["total"].item() == pytest.approx(expected.item())


def test_srgan_vgg54_objective_weights_its_content_terms():
    sr, hr, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.randn(2, 1)
    vgg = lambda a, b: torch.tensor(2.0)  # stand-in with a known value
    weights = losses.SRGANWeights(pixel=0.0, perceptual=0.006, adversarial=1e-3)
    terms = losses.srgan_generator_loss(sr, hr, fake, vgg, weights)
    assert terms["total"].item() == pytest.approx(0.006 * 2.0 + 1e-3 * losses.gan_loss_g(fake).item())


def test_discriminator_feature_loss_matches_features_and_trains_only_g():
    from srlib.models import build_model

    torch.manual_seed(0)
    D = build_model("srgan_discriminator", num_feat=8, norm="spectral")
    loss = losses.DiscriminatorFeatureLoss(D)
    hr = torch.rand(2, 3, 96, 96)
    assert loss(hr, hr).item() == 0.0
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    assert value.item() > 0
    # by hand, in eval mode (spectral norm fixed): L1 of the activation after each LeakyReLU, stage mean
    D.eval()
    value = loss(sr, hr)
    stages_sr, stages_hr, a, b = [], [], sr, hr
    for layer in D.features:
        a, b = layer(a), layer(b)
        if isinstance(layer, torch.nn.LeakyReLU):
            stages_sr.append(a)
            stages_hr.append(b)
    expected = sum((x - y).abs().mean() for x, y in zip(stages_sr, stages_hr, strict=True)) / len(stages_sr)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert "_discriminator" not in dict(loss.named_modules()) and not list(loss.parameters())


def test_discriminator_feature_loss_on_a_high_pass_unet_ignores_a_tint():
    from srlib.models import build_model

    torch.manual_seed(0)
    D = build_model("unet_discriminator", num_feat=8, high_pass=1.0, input_gain=10.0, shift_jitter=4)
    loss = losses.DiscriminatorFeatureLoss(D)
    hr = torch.rand(2, 3, 32, 32)
    assert len(D.stages(hr)) == 7 and loss(hr, hr).item() == 0.0  # no jitter inside: SR and HR stay aligned
    assert loss(hr + 0.05, hr).item() < 1e-5 < loss(hr + 0.05 * torch.randn_like(hr), hr).item()


def test_distillation_loss_high_passed_learns_the_teachers_detail_not_its_tint():
    torch.manual_seed(0)
    student = torch.rand(2, 3, 24, 24)
    assert float(losses.distillation_loss(student, student)) == 0
    tinted = student + 0.1  # a teacher with a colour cast and the same detail
    assert float(losses.distillation_loss(student, tinted)) == pytest.approx(0.1, rel=1e-5)
    assert float(losses.distillation_loss(student, tinted, high_pass=1.0)) < 1e-6
    detail = student + 0.1 * torch.randn_like(student)  # a teacher with other fine detail
    assert float(losses.distillation_loss(student, detail, high_pass=1.0)) > 0.03
