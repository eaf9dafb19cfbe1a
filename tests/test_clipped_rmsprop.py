"""pygan.optim.ClippedRMSprop: equivalence with torch.optim.RMSprop + clamp_,
state_dict compatibility both ways, and its argument checks."""
import copy

import pytest
import torch
from torch import nn

from pygan.optim import ClippedRMSprop


def critic(device, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 4, 2, 1),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 1)).to(device, dtype)


def train(model, opt, steps, clip=None, seed=1):
    gen = torch.Generator().manual_seed(seed)
    p0 = next(model.parameters())
    for _ in range(steps):
        x = torch.randn(4, 3, 16, 16, generator=gen).to(p0.device, p0.dtype)
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        if clip is not None:
            with torch.no_grad():
                for p in model.parameters():
                    p.clamp_(-clip, clip)


GROUP_OPTIONS = [dict(), dict(momentum=0.9), dict(centered=True, weight_decay=0.01),
                 dict(centered=True, momentum=0.5, maximize=True, alpha=0.9)]


@pytest.mark.parametrize("opts", GROUP_OPTIONS, ids=str)
@pytest.mark.parametrize("clip", [None, 0.01])
def test_matches_torch_rmsprop_then_clamp(opts, clip, device):
    ours, theirs = critic(device), critic(device)
    train(ours, ClippedRMSprop(ours.parameters(), lr=5e-5, clip_value=clip, **opts), 20)
    train(theirs, torch.optim.RMSprop(theirs.parameters(), lr=5e-5, **opts), 20, clip)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_param_groups_with_their_own_settings(device):
    ours, theirs = critic(device), critic(device)
    groups = lambda m: [dict(params=m[0].parameters(), lr=1e-3, momentum=0.9),  # noqa: E731
                        dict(params=list(m[2].parameters()) + list(m[4].parameters()))]
    opt = ClippedRMSprop(groups(ours), lr=1e-4)
    train(ours, opt, 10)
    train(theirs, torch.optim.RMSprop(groups(theirs), lr=1e-4), 10)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_parameters_without_gradients_are_skipped():
    frozen, used = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    opt = ClippedRMSprop([frozen, used], lr=0.01, clip_value=0.5)  # 1 - 0.1, clamped
    used.sum().backward()
    opt.step()
    assert torch.equal(frozen, torch.ones(3)) and frozen not in opt.state
    assert torch.equal(used.detach(), torch.full((3,), 0.5))
    assert opt.state[used]["step"].item() == 1


def test_sparse_gradients_are_refused():
    emb = nn.Embedding(10, 4, sparse=True)
    opt = ClippedRMSprop(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients.*group 0, parameter 0"):
        opt.step()


def test_closure_loss_is_returned():
    p = nn.Parameter(torch.ones(2))
    opt = ClippedRMSprop([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0


@pytest.mark.parametrize("opts", GROUP_OPTIONS, ids=str)
@pytest.mark.parametrize("direction", ["torch->pygan", "pygan->torch"])
def test_state_dict_round_trip(opts, direction):
    first, second = (torch.optim.RMSprop, ClippedRMSprop)
    if direction == "pygan->torch":
        first, second = second, first
    a = critic("cpu", torch.float64)  # float64: the two runs must agree to rounding
    opt_a = first(a.parameters(), lr=1e-3, **opts)
    train(a, opt_a, 5)
    b = copy.deepcopy(a)
    opt_b = second(b.parameters(), lr=1e-3, **opts)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as if saved to disk
    assert set(opt_b.state_dict()["state"][0]) == set(opt_a.state_dict()["state"][0])
    train(a, opt_a, 5, seed=2)
    train(b, opt_b, 5, seed=2)
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    torch.testing.assert_close(opt_a.state_dict()["state"], opt_b.state_dict()["state"])


def test_loading_torch_state_keeps_clip_value():
    p = nn.Parameter(torch.zeros(3))
    theirs = torch.optim.RMSprop([p], lr=0.1)
    ours = ClippedRMSprop([p], lr=0.1, clip_value=0.01)
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["clip_value"] == 0.01
    p.grad = torch.ones(3)
    ours.step()
    assert torch.equal(p.detach(), torch.full((3,), -0.01))


def test_saved_clip_value_is_restored():
    p = nn.Parameter(torch.zeros(3))
    saved = ClippedRMSprop([p], clip_value=0.05).state_dict()
    ours = ClippedRMSprop([p], clip_value=0.01)
    ours.load_state_dict(saved)
    assert ours.param_groups[0]["clip_value"] == 0.05


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_params_keep_float32_state(dtype, device):
    model = critic(device, dtype)
    opt = ClippedRMSprop(model.parameters(), lr=1e-3, momentum=0.9, clip_value=0.05)
    train(model, opt, 3)
    state = opt.state[next(model.parameters())]
    assert state["square_avg"].dtype == state["momentum_buffer"].dtype == torch.float32
    opt.load_state_dict(opt.state_dict())  # torch would cast state to the param dtype
    assert opt.state[next(model.parameters())]["square_avg"].dtype == torch.float32
    assert all(p.isfinite().all() and p.abs().max() <= 0.05 for p in model.parameters())


def test_channels_last_and_non_dense_parameters():
    torch.manual_seed(0)
    conv = nn.Parameter(torch.randn(4, 3, 3, 3).to(memory_format=torch.channels_last))
    strided = nn.Parameter(torch.randn(4, 8)[:, ::2])  # not dense: takes the reference path
    params = [conv, strided]
    refs = [p.detach().contiguous().clone().requires_grad_() for p in params]
    ours = ClippedRMSprop(params, lr=0.01, clip_value=0.3)
    theirs = torch.optim.RMSprop(refs, lr=0.01)
    for _ in range(3):
        for p, r in zip(params, refs):
            g = torch.randn(p.shape)
            p.grad, r.grad = g, g.clone()
        ours.step()
        theirs.step()
        with torch.no_grad():
            for r in refs:
                r.clamp_(-0.3, 0.3)
    for p, r in zip(params, refs):
        torch.testing.assert_close(p.detach(), r.detach())


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "lr must be >= 0"),
    (dict(eps=-1e-8), "eps must be >= 0"),
    (dict(weight_decay=float("inf")), "weight_decay must be >= 0 and finite"),
    (dict(momentum=-0.1), "momentum must be >= 0"),
    (dict(alpha=1.1), r"alpha must be in \[0, 1\]"),
    (dict(clip_value=0.0), "clip_value must be positive"),
    (dict(clip_value=-0.01), "clip_value must be positive"),
])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClippedRMSprop([nn.Parameter(torch.zeros(1))], **kwargs)
