"""What a run leaves in its directory: metrics.csv (always), TensorBoard
events (when tensorboard is installed), sample images, and a loss plot."""
import csv
import math
import os
from pathlib import Path

import torch
from torch import Tensor


class MetricLog:
    """Appends one row per logged step to ``run_dir/metrics.csv`` and mirrors
    it to TensorBoard under ``run_dir/tb`` when available. Resuming at step s
    drops the rows after s first, so the file matches the resumed run."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.path = run_dir / "metrics.csv"
        if resume_step is None:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self._write(rows, "w")
            else:
                self.path.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)
        except ImportError:  # tensorboard is optional
            self.tb = None

    def _write(self, rows: list[dict], mode: str) -> None:
        new = mode == "w" or not self.path.exists()
        with open(self.path, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def log(self, step: int, values: dict[str, float]) -> None:
        self._write([{"step": step, **values}], "a")
        if self.tb is not None:
            for name, value in values.items():
                self.tb.add_scalar(name, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(path: str | os.PathLike) -> dict[str, list[float]]:
    """metrics.csv as columns of floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def plot_losses(csv_path: Path, out: Path) -> Path | None:
    """Plots every loss column of metrics.csv against the step to ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = read_metrics(csv_path) if csv_path.exists() else {}
    if not cols.get("step"):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in cols.items():
        if name.startswith("loss"):
            ax.plot(cols["step"], values, label=name, linewidth=1)
    ax.set_xlabel("generator step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def save_image_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Writes images [N, C, H, W] in [-1, 1] (C = 1 or 3, any device) as one
    PNG grid with ``nrow`` images a row (default: as square as possible)."""
    from PIL import Image

    if images.dim() != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"images must have shape [N, 1 or 3, H, W] with N >= 1, "
                         f"got {list(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows, pad = math.ceil(n / nrow), 2
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), -1.0)
    for i, img in enumerate(images.detach().float().cpu().clamp(-1, 1)):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = img
    pixels = ((grid + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(pixels[:, :, 0] if c == 1 else pixels).save(path)
    return Path(path)


def save_scatter(points: Tensor, path: str | os.PathLike, centers: Tensor | None = None) -> Path:
    """Writes 2-D samples [N, 2] (and the mixture's centres [K, 2]) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape [N, 2], got {list(points.shape)}")
    fig, ax = plt.subplots(figsize=(5, 5))
    p = points.detach().float().cpu()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.4, label="generated")
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=30, marker="x", color="red", label="modes")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
