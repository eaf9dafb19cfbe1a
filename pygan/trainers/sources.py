"""Where batches come from. A trainer asks its source for the next batch and
saves the source's state in checkpoints, so a resumed run sees the same
batches as an uninterrupted one."""
import torch
from torch import Tensor


def fits_on(device: torch.device, nbytes: int) -> bool:
    """Whether ``nbytes`` of data may live on ``device`` for the whole run: on
    CUDA when it takes at most a quarter of the free memory (the models and
    activations need the rest); the CPU holds it already."""
    if device.type != "cuda":
        return device.type == "cpu"
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 4


class TensorBatches:
    """Endless shuffled minibatches of in-memory tensors (any dtype), one
    permutation per epoch drawn from (seed, epoch) on the CPU (the same
    batches on every device); the last partial batch of an epoch is dropped.
    Under DDP each of ``world`` ranks takes every world-th example of the
    permutation, so shards are disjoint.

    With ``device`` (e.g. cuda) and data that fits there (:func:`fits_on`),
    the tensors are copied to it once and batches are gathered there: one
    small index copy per epoch instead of a host-to-device copy per batch.
    Otherwise they stay where they are and the trainer copies each batch."""

    def __init__(self, tensors: tuple[Tensor, ...], batch_size: int, seed: int, rank: int = 0,
                 world: int = 1, device: torch.device | None = None):
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"tensors must have the same length, got {[len(t) for t in tensors]}")
        if n // world < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the data set's "
                             f"{n // world} examples per process")
        nbytes = sum(t.numel() * t.element_size() for t in tensors)
        if device is not None and fits_on(device, nbytes):
            tensors = tuple(t.to(device) for t in tensors)
        self.tensors, self.batch_size, self.seed = tensors, batch_size, seed
        self.rank, self.world = rank, world
        self.epoch, self.position, self._perm_epoch, self._perm = 0, 0, -1, None

    def _permutation(self) -> Tensor:
        if self._perm_epoch != self.epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            perm = torch.randperm(len(self.tensors[0]), generator=gen)[self.rank::self.world]
            self._perm = perm.to(self.tensors[0].device)
            self._perm_epoch = self.epoch
        return self._perm

    def next(self) -> tuple[Tensor, ...]:
        perm = self._permutation()
        idx = perm[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        if self.position + self.batch_size > len(perm):
            self.epoch, self.position = self.epoch + 1, 0
        return tuple(t[idx] for t in self.tensors)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


class SamplerBatches:
    """Fresh batches from ``sample(n, generator) -> Tensor`` (e.g. a 2-D
    mixture), with a generator seeded per rank."""

    def __init__(self, sample, batch_size: int, seed: int, rank: int = 0):
        self.sample, self.batch_size = sample, batch_size
        self.generator = torch.Generator().manual_seed(seed * 1_000_003 + rank)

    def next(self) -> tuple[Tensor, ...]:
        return (self.sample(self.batch_size, self.generator),)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class ZippedBatches:
    """One batch from each of several sources per call, concatenated into one
    tuple: e.g. (images, labels) from the labelled examples and (images,)
    from the unlabelled ones give (images, labels, unlabelled images)."""

    def __init__(self, *sources):
        if not sources:
            raise ValueError("ZippedBatches needs at least one source")
        self.sources = sources

    def next(self) -> tuple[Tensor, ...]:
        return tuple(t for source in self.sources for t in source.next())

    def state_dict(self) -> dict:
        return {"sources": [s.state_dict() for s in self.sources]}

    def load_state_dict(self, state: dict) -> None:
        for source, s in zip(self.sources, state["sources"], strict=True):
            source.load_state_dict(s)
