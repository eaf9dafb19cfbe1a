"""Each loss against its formula written out in probabilities."""
import math

import pytest
import torch

from pygan import losses

R = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
F_ = torch.tensor([-2.0, 0.3, 1.0, -0.7], dtype=torch.float64)
D_R, D_F = torch.sigmoid(R), torch.sigmoid(F_)


def test_bce_discriminator():
    want = -(D_R.log().mean() + (1 - D_F).log().mean())
    torch.testing.assert_close(losses.d_loss_bce(R, F_), want)


def test_bce_one_sided_label_smoothing():
    want = -(0.9 * D_R.log() + 0.1 * (1 - D_R).log()).mean() - (1 - D_F).log().mean()
    torch.testing.assert_close(losses.d_loss_bce(R, F_, real_label=0.9), want)


def test_generator_losses():
    torch.testing.assert_close(losses.g_loss_minimax(F_), (1 - D_F).log().mean())
    torch.testing.assert_close(losses.g_loss_nonsaturating(F_), -D_F.log().mean())


def test_nonsaturating_stays_finite_where_log_sigmoid_underflows():
    x = torch.tensor([-200.0])
    assert torch.isfinite(losses.g_loss_nonsaturating(x)) and losses.g_loss_nonsaturating(x) > 100


def test_wasserstein_hinge_least_squares():
    torch.testing.assert_close(losses.d_loss_wasserstein(R, F_), F_.mean() - R.mean())
    torch.testing.assert_close(losses.g_loss_wasserstein(F_), -F_.mean())
    torch.testing.assert_close(losses.d_loss_hinge(R, F_),
                               (1 - R).clamp(min=0).mean() + (1 + F_).clamp(min=0).mean())
    torch.testing.assert_close(losses.d_loss_least_squares(R, F_),
                               0.5 * ((R - 1) ** 2).mean() + 0.5 * (F_ ** 2).mean())
    torch.testing.assert_close(losses.g_loss_least_squares(F_), 0.5 * ((F_ - 1) ** 2).mean())


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w.x has gradient w everywhere: penalty (||w|| - 1)^2, whatever x_hat is.
    w = torch.tensor([3.0, 4.0])
    critic = lambda x: x @ w  # noqa: E731
    gp = losses.gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    torch.testing.assert_close(gp, torch.tensor((5.0 - 1) ** 2))


def test_gradient_penalty_is_differentiable_in_the_critic():
    critic = torch.nn.Linear(3, 1)
    gp = losses.gradient_penalty(critic, torch.randn(4, 3), torch.randn(4, 3),
                                 torch.Generator().manual_seed(0))
    gp.backward()
    w = critic.weight.detach()
    torch.testing.assert_close(critic.weight.grad, 2 * (w.norm() - 1) * w / w.norm())


@pytest.mark.parametrize("call, message", [
    (lambda: losses.d_loss_bce(R, torch.tensor([1, 2])), "fake_logits must be a non-empty float"),
    (lambda: losses.g_loss_minimax(torch.empty(0)), "fake_logits must be a non-empty"),
    (lambda: losses.d_loss_bce(R, F_, real_label=0.0), r"real_label must be in \(0, 1\]"),
    (lambda: losses.gradient_penalty(lambda x: x.sum(1), torch.ones(2, 3), torch.ones(3, 3)),
     "real and fake must have the same shape"),
])
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_registries_name_every_loss():
    assert set(losses.D_LOSSES) == {"bce", "wasserstein", "hinge", "least-squares"}
    assert losses.G_LOSSES["minimax"](torch.zeros(1)).item() == pytest.approx(-math.log(2))
