"""The training loops a user writes without pygan, on the same models, for
bench_train_epoch.py to time against pygan's trainers.

DCGAN follows pytorch/examples' dcgan/main.py: one generator forward per
iteration, its output detached for the discriminator's fake half and reused
for the generator's step; the real and fake halves backpropagated separately;
Adam(2e-4, (0.5, 0.999)). BCEWithLogitsLoss stands for its Sigmoid + BCELoss
(pygan's discriminator returns logits; the fused loss is also the faster).

WGAN follows the paper's code: the critic's weights clamped to [-c, c]
before each critic step, RMSprop(5e-5) on both networks. As the strongest
plain version it uses foreach RMSprop and foreach clamps (one call per list,
not one per tensor).

Batches come from a permutation of the in-memory images (no DataLoader: the
data set fits in memory, and indexing is the fastest a user can do).
"""
import torch
from torch import nn

from pygan.models import DCGANDiscriminator, DCGANGenerator


class PlainLoop:
    """Models, optimizers and an endless shuffled batch stream on ``device``."""

    def __init__(self, images: torch.Tensor, device, batch_size: int = 128, z_dim: int = 100,
                 seed: int = 0):
        torch.manual_seed(seed)
        c, size = images.shape[1], images.shape[-1]
        self.G = DCGANGenerator(size, c, z_dim, fused=False).to(device)
        self.D = DCGANDiscriminator(size, c).to(device)
        self.images, self.device = images.to(device), device
        self.batch, self.z_dim = batch_size, z_dim
        self.perm, self.pos = torch.randperm(len(images), device=device), 0

    def compile(self) -> "PlainLoop":
        """The same loop with both models under torch.compile (what a user tries first)."""
        self.G.compile()
        self.D.compile()
        return self

    def next_real(self) -> torch.Tensor:
        if self.pos + self.batch > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.images), device=self.device), 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return self.images[idx]

    def noise(self) -> torch.Tensor:
        return torch.randn(self.batch, self.z_dim, device=self.device)


class PlainDCGAN(PlainLoop):
    batches_per_step = 1

    def __init__(self, images, device, **kwargs):
        super().__init__(images, device, **kwargs)
        self.opt_d = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.loss = nn.BCEWithLogitsLoss()
        self.ones = torch.ones(self.batch, device=device)
        self.zeros = torch.zeros(self.batch, device=device)

    def step(self) -> None:
        real = self.next_real()
        self.D.zero_grad()
        self.loss(self.D(real), self.ones).backward()
        fake = self.G(self.noise())
        self.loss(self.D(fake.detach()), self.zeros).backward()
        self.opt_d.step()
        self.G.zero_grad()
        self.loss(self.D(fake), self.ones).backward()
        self.opt_g.step()


class PlainWGAN(PlainLoop):
    """Weight clipping, ``n_critic`` critic steps per generator step."""

    def __init__(self, images, device, n_critic: int = 5, clip: float = 0.01, **kwargs):
        super().__init__(images, device, **kwargs)
        self.batches_per_step, self.clip = n_critic, clip
        self.opt_d = torch.optim.RMSprop(self.D.parameters(), 5e-5, foreach=True)
        self.opt_g = torch.optim.RMSprop(self.G.parameters(), 5e-5, foreach=True)
        self.d_params = list(self.D.parameters())

    def step(self) -> None:
        for _ in range(self.batches_per_step):
            with torch.no_grad():
                torch._foreach_clamp_min_(self.d_params, -self.clip)
                torch._foreach_clamp_max_(self.d_params, self.clip)
                fake = self.G(self.noise())
            self.D.zero_grad()
            (self.D(fake).mean() - self.D(self.next_real()).mean()).backward()
            self.opt_d.step()
        self.G.zero_grad()
        (-self.D(self.G(self.noise())).mean()).backward()
        self.opt_g.step()
