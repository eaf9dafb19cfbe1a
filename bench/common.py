"""Timing helpers shared by the bench scripts: interleaved repetitions,
medians, CUDA events on GPU, the measured copy bandwidth, and result files."""
import json
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn, device: torch.device) -> float:
    """Seconds for one call of fn (CUDA events on GPU, perf_counter on CPU)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_times(fns: dict, device: torch.device, reps: int, warmup: int = 3) -> dict:
    """Median seconds per call for each fn. Calls are interleaved (one of each
    per round) so a slow phase of a shared machine hits every contender."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    samples = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            samples[name].append(time_once(fn, device))
    return {name: statistics.median(s) for name, s in samples.items()}


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 28, reps: int = 10) -> float:
    """Bytes per second of dst.copy_(src) (read + write counted) on device."""
    src = torch.rand(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    t = median_times({"copy": lambda: dst.copy_(src)}, device, reps)["copy"]
    return 2 * nbytes / t


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def write_results(name: str, device: torch.device, payload: dict) -> Path:
    """Writes bench/results/<name>_<device>.json with the environment."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"bench": name, "device": device_name(device), "torch": torch.__version__,
               "cuda": torch.version.cuda, "date": time.strftime("%Y-%m-%d"), **payload}
    path = RESULTS / f"{name}_{device.type}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def matmul_rate(device: torch.device, n: int = 4096, dtype=torch.float32, reps: int = 10) -> float:
    """FLOP/s of an n x n x n matmul in ``dtype`` on device: the compute peak
    the floors use (what the vendor BLAS reaches, not the datasheet)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = median_times({"mm": lambda: a @ b}, device, reps, warmup=2)["mm"]
    return 2 * n ** 3 / t
