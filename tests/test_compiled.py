"""TrainConfig.compile: compiled models and fused optimizers train to the
same weights as eager ones and resume exactly, in both directions; data that
fits on the device is gathered there."""
import pytest
import torch

from pygan.trainers.sources import TensorBatches

from .conftest import CUDA
from .test_trainers import make, weights


def assert_close_weights(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if not a[k].is_floating_point():
            assert torch.equal(a[k], b[k]), k
            continue
        scale = b[k].abs().max().clamp(min=1e-6)
        assert (a[k] - b[k]).abs().max() / scale < rtol, k


@pytest.mark.parametrize("name", ["gan", "dcgan", "wgan-mlp"])
def test_compiled_steps_train_like_eager(name, tmp_path):
    runs = {}
    for compile in (False, True):
        trainer = make(name, tmp_path / str(compile), steps=20, compile=compile,
                       lr_decay_start=0.5)
        trainer.fit()
        runs[compile] = weights(trainer)
    # 20 steps of a GAN amplify float rounding (fused kernels sum in another order).
    assert_close_weights(runs[True], runs[False], rtol=2e-3)


def test_compiled_run_resumes_and_writes_eager_checkpoints(tmp_path):
    straight = make("gan", tmp_path / "straight", steps=12, compile=True)
    straight.fit()
    make("gan", tmp_path / "split", steps=6, compile=True).fit()
    resumed = make("gan", tmp_path / "split", steps=12, compile=True)
    assert all(o.defaults["fused"] for o in resumed.optimizers.values())  # Adam's one kernel
    resumed.fit()
    assert resumed.step == 12
    assert_close_weights(weights(resumed), weights(straight), rtol=1e-6)
    # ... and an eager trainer takes the compiled run's checkpoint.
    eager = make("gan", tmp_path / "split", steps=14)
    eager.fit()
    assert eager.step == 14


def test_data_stays_where_it_is_without_a_device():
    data = (torch.arange(10.0), torch.arange(10))
    batches = TensorBatches(data, 4, seed=0)
    assert batches.tensors[0] is data[0] and batches.next()[0].device.type == "cpu"


@CUDA
def test_data_that_fits_is_gathered_on_the_gpu():
    data = (torch.randn(256, 3), torch.arange(256))
    on_gpu = TensorBatches(data, 32, seed=0, device=torch.device("cuda"))
    on_cpu = TensorBatches(data, 32, seed=0)
    assert all(t.is_cuda for t in on_gpu.tensors)
    for _ in range(20):  # the same batches, across epochs
        for g, c in zip(on_gpu.next(), on_cpu.next()):
            assert g.is_cuda and torch.equal(g.cpu(), c)
