"""GAN losses on discriminator outputs.

Every function takes raw discriminator outputs (logits for the probabilistic
losses, scores for the others), any shape, float, on any device, and returns a
scalar tensor to minimise. The sigmoid is folded into the losses through
softplus, which stays finite where log(sigmoid(x)) would underflow.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["d_loss_bce", "g_loss_minimax", "g_loss_nonsaturating", "d_loss_wasserstein",
           "g_loss_wasserstein", "d_loss_hinge", "g_loss_hinge", "d_loss_least_squares",
           "g_loss_least_squares", "gradient_penalty", "ssgan_real_logit",
           "feature_matching_loss", "conditional_entropy", "D_LOSSES", "G_LOSSES"]


def _check(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.numel() == 0:
        got = f"{x.dtype} tensor of shape {list(x.shape)}" if isinstance(x, Tensor) else type(x)
        raise ValueError(f"{name} must be a non-empty floating-point tensor, got {got}")


def d_loss_bce(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    """Goodfellow et al.'s discriminator loss, -E[log D(x)] - E[log(1 - D(G(z)))],
    with D = sigmoid(logits). ``real_label`` < 1 is one-sided label smoothing
    (Salimans et al. 2016): the real target becomes e.g. 0.9, the fake stays 0."""
    _check("real_logits", real_logits)
    _check("fake_logits", fake_logits)
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    return real + F.softplus(fake_logits).mean()  # -log(1 - sigmoid(f)) = softplus(f)


def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    """The saturating minimax generator loss E[log(1 - D(G(z)))] = -E[softplus(f)]."""
    _check("fake_logits", fake_logits)
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss -E[log D(G(z))] = E[softplus(-f)]."""
    _check("fake_logits", fake_logits)
    return F.softplus(-fake_logits).mean()


def d_loss_wasserstein(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """WGAN critic loss E[D(G(z))] - E[D(x)]; its negation estimates W1 (up to K)."""
    _check("real_scores", real_scores)
    _check("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def g_loss_wasserstein(fake_scores: Tensor) -> Tensor:
    """WGAN (and hinge) generator loss -E[D(G(z))]."""
    _check("fake_scores", fake_scores)
    return -fake_scores.mean()


def d_loss_hinge(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Hinge loss E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (Lim & Ye 2017)."""
    _check("real_scores", real_scores)
    _check("fake_scores", fake_scores)
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


g_loss_hinge = g_loss_wasserstein


def d_loss_least_squares(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """LSGAN (Mao et al. 2017) with targets 1/0: 0.5 E[(D(x)-1)^2] + 0.5 E[D(G(z))^2]."""
    _check("real_scores", real_scores)
    _check("fake_scores", fake_scores)
    return 0.5 * (real_scores - 1).square().mean() + 0.5 * fake_scores.square().mean()


def g_loss_least_squares(fake_scores: Tensor) -> Tensor:
    """LSGAN generator loss 0.5 E[(D(G(z)) - 1)^2]."""
    _check("fake_scores", fake_scores)
    return 0.5 * (fake_scores - 1).square().mean()


def gradient_penalty(critic, real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] at
    x_hat = e x + (1 - e) G(z), e ~ U[0, 1] per example. ``real`` and ``fake``
    have the same shape [B, ...] and device; the result is differentiable in
    the critic's parameters (create_graph). ``generator`` (on the CPU) draws e."""
    _check("real", real)
    _check("fake", fake)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {list(real.shape)} "
                         f"and {list(fake.shape)}")
    e = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator)
    x_hat = (e.to(real) * real.detach() + (1 - e.to(real)) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def ssgan_real_logit(class_logits: Tensor, explicit_fake: bool = False) -> Tensor:
    """The logit of D(x) = P(real | x) for a semi-supervised GAN's classifier.

    ``class_logits`` [B, K] (float, any device): the fake class is implicit
    (Salimans et al. 2016), D(x) = Z(x) / (Z(x) + 1) with Z = sum_k exp(l_k),
    whose logit is logsumexp_k l_k. With ``explicit_fake`` the logits are
    [B, K + 1], the last column the fake class, and D(x) is the softmax mass
    of the K real classes: logit = logsumexp_{k<K} l_k - l_K. Returns [B].
    Feed it to :func:`d_loss_bce` / the G losses as an ordinary D logit."""
    _check("class_logits", class_logits)
    if class_logits.dim() != 2 or class_logits.shape[1] < (3 if explicit_fake else 2):
        want = "[B, K + 1] with K >= 2" if explicit_fake else "[B, K] with K >= 2"
        raise ValueError(f"class_logits must be {want}, got {list(class_logits.shape)}")
    if explicit_fake:
        return torch.logsumexp(class_logits[:, :-1], 1) - class_logits[:, -1]
    return torch.logsumexp(class_logits, 1)


def conditional_entropy(class_logits: Tensor) -> Tensor:
    """Mean entropy of the class predictions, E_x[-sum_k p_k log p_k] with
    p = softmax(class_logits) over the K >= 2 classes of [B, K] (float, any
    device). Minimised on unlabelled data, it pushes a semi-supervised
    classifier's boundaries away from the data (Dai et al. 2017, "Good
    semi-supervised learning that requires a bad GAN")."""
    _check("class_logits", class_logits)
    if class_logits.dim() != 2 or class_logits.shape[1] < 2:
        raise ValueError(f"class_logits must be [B, K] with K >= 2, got "
                         f"{list(class_logits.shape)}")
    log_p = F.log_softmax(class_logits, 1)
    return -(log_p.exp() * log_p).sum(1).mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Feature matching (Salimans et al. 2016), the generator's loss: the
    mean over the F features of the squared difference of the batch means,
    mean_f (E[f(x)] - E[f(G(z))])^2. real [B1, F], fake [B2, F]; the
    gradient reaches whichever of the two requires it (normally fake)."""
    _check("real_features", real_features)
    _check("fake_features", fake_features)
    if real_features.dim() != 2 or real_features.shape[1:] != fake_features.shape[1:] \
            or fake_features.dim() != 2:
        raise ValueError(f"real_features and fake_features must be [B, F] with the same F, got "
                         f"{list(real_features.shape)} and {list(fake_features.shape)}")
    return (real_features.mean(0) - fake_features.mean(0)).square().mean()


D_LOSSES = {"bce": d_loss_bce, "wasserstein": d_loss_wasserstein, "hinge": d_loss_hinge,
            "least-squares": d_loss_least_squares}
G_LOSSES = {"minimax": g_loss_minimax, "nonsaturating": g_loss_nonsaturating,
            "wasserstein": g_loss_wasserstein, "hinge": g_loss_hinge,
            "least-squares": g_loss_least_squares}
