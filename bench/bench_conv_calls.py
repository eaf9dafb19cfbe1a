"""Host and device time per call of the operations a DCGAN generator block
could be built from, at each block's shapes: what decides between calling
cuDNN's transposed convolution (pygan's CUDA op today) and building it from
GEMMs plus a col2im/im2col pass (the issue's other route). A small GPU step
is bound by host time, so both columns matter.

For each block [N, C_in, H, W] -> [N, C_out, OH, OW] (kernel k):
  conv fwd / conv bwd   F.conv_transpose2d and aten.convolution_backward
                        (input and weight gradients): cuDNN on CUDA (TF32
                        when torch.backends.cudnn.allow_tf32, the default),
                        oneDNN on the CPU
  gemm fwd              X [N*H*W, C_in] @ W [C_in, k*k*C_out] (the columns)
  gemm bwd              dcols @ W^T and X^T @ dcols (input and weight grads)
  gemm tf32 fwd/bwd     the same with torch.backends.cuda.matmul.allow_tf32
  col2im / im2col       F.fold of the columns / F.unfold of the output
                        gradient: the device-time stand-ins for the passes
                        the GEMM route adds (pygan's would fuse batch norm in)
  pygan fwd / bwd       the ops pygan::conv_transpose_bn_act and its backward,
                        called as ConvTransposeBNAct calls them (no autograd)
  eager bn+act fwd/bwd  F.batch_norm (training) + ReLU, the unfused rest; the
                        bwd row goes through autograd.grad, so it includes
                        one engine call (the framework table's row)
  pygan / eager block   the whole block, forward + backward through autograd:
                        ConvTransposeBNAct fused, and as the plain modules
                        (the block's share of a generator step); "pygan gemm
                        block" with cuDNN disabled (pygan's GEMM route);
                        "... block fwd": the forward alone (graph recorded),
                        "... block bwd": the backward alone (one graph, kept)
A "framework" table first: a tiny op through torch's Python bindings and
through torch.ops (the path a custom op takes), one kernel launch, one
allocation, and an autograd.grad call through a one-node graph.

Host time: seconds to issue a call, from perf_counter around a burst of
--burst calls (GPU idle before it; the burst cannot fill the launch queue).
Device time: CUDA events around the same burst queued behind a spin kernel,
so the host's gaps do not count. On the CPU both are the call's time.

    python bench/bench_conv_calls.py [--device cuda] [--workloads 32x64 64x128]
    python bench/bench_conv_calls.py --threads 1 --workloads 16x2   # host cost on a CPU
"""
import argparse
import copy
import statistics
import time

import torch
from torch.nn import functional as F

from common import device_name, sync, write_results
from pygan.models import DCGANGenerator
from pygan.ops import has_kernel
from pygan.ops.conv_transpose_bn_act import conv_transpose_bn_act_reference

Z_DIM, NGF, CHANNELS = 100, 64, 3


def burst_times(calls: dict, device: torch.device, burst: int,
                rounds: int) -> dict[str, tuple[float, float]]:
    """name -> median (host, device) seconds per call over `rounds` bursts.
    The calls take turns within each round, so a drift in the shared
    machine's speed moves them all alike."""
    for fn in calls.values():
        for _ in range(3):
            fn()
    sync(device)
    host = {name: [] for name in calls}
    dev = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(burst):
                fn()
            host[name].append((time.perf_counter() - t0) / burst)
            if device.type == "cuda":
                sync(device)
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                # ~20 ms of spinning: longer than the host takes to queue the burst.
                torch.cuda._sleep(40_000_000)
                start.record()
                for _ in range(burst):
                    fn()
                end.record()
                end.synchronize()
                dev[name].append(start.elapsed_time(end) / 1e3 / burst)
    sync(device)
    return {name: (statistics.median(host[name]),
                   statistics.median(dev[name] or host[name])) for name in calls}


def with_tf32(fn):
    def call():
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            fn()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    return call


def block_steps(block, x: torch.Tensor, fmt: torch.memory_format) -> dict:
    """Forward + backward of the whole block, fused and plain, in layout fmt;
    x needs a gradient unless it is the first block's input (z)."""
    x = x.detach().requires_grad_(x.shape[2] > 1)
    models = {"pygan block": copy.deepcopy(block), "eager block": block}
    models["pygan block"].fused = True
    steps = {}
    for name, m in models.items():
        m.to(memory_format=fmt)
        grad = torch.randn_like(m(x))  # in the block's output layout

        def step(m=m, grad=grad):
            m(x).backward(grad)
        steps[name] = step
        steps[f"{name} fwd"] = lambda m=m: m(x)
        steps[f"{name} bwd"] = lambda out=m(x), grad=grad: out.backward(grad, retain_graph=True)
    if x.device.type == "cuda":
        def gemm_step(step=steps["pygan block"]):
            with torch.backends.cudnn.flags(enabled=False):  # pygan's GEMM route
                step()
        steps["pygan gemm block"] = gemm_step
    return steps


def framework_calls(device: torch.device) -> dict:
    """name -> zero-argument call: what any block pays per operation, on
    tiny tensors (so the host's share is all there is)."""
    t = torch.randn(256, device=device)
    leaf = t.clone().requires_grad_()
    y = leaf * 2
    return {
        "torch.add": lambda: torch.add(t, t),
        "torch.ops add": lambda: torch.ops.aten.add.Tensor(t, t),
        "add_ (a launch)": lambda: t.add_(1),
        "empty": lambda: torch.empty(256, device=device),
        "autograd.grad": lambda: torch.autograd.grad(y, leaf, t, retain_graph=True),
    }


def block_calls(block, x: torch.Tensor, fmt: torch.memory_format) -> dict:
    """name -> zero-argument call, for one block at input x."""
    conv = block[0]
    n, c_in, h, w = x.shape
    k, s, p = conv.kernel_size, list(conv.stride), list(conv.padding)
    weight = conv.weight.detach().contiguous(memory_format=fmt)
    y = F.conv_transpose2d(x, weight, None, s, p)
    c_out, oh, ow = y.shape[1:]
    taps = k[0] * k[1]
    x_rows = torch.randn(n * h * w, c_in, device=x.device)
    w_cols = torch.randn(c_in, taps * c_out, device=x.device)
    dcols = torch.randn(n * h * w, taps * c_out, device=x.device)
    cols = torch.randn(n, taps * c_out, h * w, device=x.device)
    dy = torch.randn_like(y)
    gemm_fwd = lambda: torch.mm(x_rows, w_cols)  # noqa: E731
    def gemm_bwd():
        torch.mm(dcols, w_cols.t())
        torch.mm(x_rows.t(), dcols)
    calls = {
        "conv fwd": lambda: F.conv_transpose2d(x, weight, None, s, p),
        "conv bwd": lambda: torch.ops.aten.convolution_backward(
            dy, x, weight, None, s, p, [1, 1], True, [0, 0], 1, [True, True, False]),
        "gemm fwd": gemm_fwd,
        "gemm bwd": gemm_bwd,
    }
    if x.device.type == "cuda":
        calls["gemm tf32 fwd"] = with_tf32(gemm_fwd)
        calls["gemm tf32 bwd"] = with_tf32(gemm_bwd)
    calls["col2im"] = lambda: F.fold(cols, (oh, ow), k, padding=p, stride=s)
    calls["im2col"] = lambda: F.unfold(dy, k, padding=p, stride=s)
    norm = len(block) > 2  # (conv, bn, relu) or (conv, tanh)
    act_name, act_fn = ("relu", F.relu) if norm else ("tanh", torch.tanh)
    bn_args = [None] * 4
    if norm:
        bn = block[1]
        bn_args = [bn.weight.detach(), bn.bias.detach(), bn.running_mean.clone(),
                   bn.running_var.clone()]
    if has_kernel("conv_transpose_bn_act", x.device):
        op_args = (s, p, [0, 0], norm, True, 1e-5, act_name, 0.0)
        calls["pygan fwd"] = lambda: torch.ops.pygan.conv_transpose_bn_act.default(
            x, weight, None, *bn_args, *op_args[:6], 0.1, *op_args[6:])
        out, yy, mu, v = calls["pygan fwd"]()
        dout = torch.randn_like(out)  # out's layout
        calls["pygan bwd"] = lambda: torch.ops.pygan.conv_transpose_bn_act_backward(
            dout, x, weight, bn_args[0], out, yy, mu, v, *op_args, [True, True, False])
    y_in = y.detach().requires_grad_()
    gamma_in = bn_args[0].clone().requires_grad_() if norm else None

    def eager_fwd(running=[t.clone() if norm else None for t in bn_args[2:]]):
        pre = F.batch_norm(y_in, *running, gamma_in, bn_args[1], True, 0.1, 1e-5) if norm else y_in
        return act_fn(pre)
    # A graph whose running statistics no later call bumps.
    act = eager_fwd([t.clone() if norm else None for t in bn_args[2:]])
    calls["eager bn+act fwd" if norm else "eager act fwd"] = eager_fwd
    wrt = (y_in, gamma_in) if norm else (y_in,)
    calls["eager bn+act bwd" if norm else "eager act bwd"] = lambda: torch.autograd.grad(
        act, wrt, dy, retain_graph=True)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workloads", nargs="*", default=["32x64", "64x128"], help="SIZExBATCH")
    parser.add_argument("--layout", choices=["nchw", "nhwc"], default="nchw",
                        help="the activations' and weights' layout")
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=0, help="default: 15 on CUDA, 3 on CPU")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (15 if device.type == "cuda" else 3)
    fmt = torch.channels_last if args.layout == "nhwc" else torch.contiguous_format
    lines = [f"{device_name(device)}; torch {torch.__version__}; {args.layout}; "
             f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}; "
             f"matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}; us per call", ""]
    print("\n".join(lines), flush=True)
    rows = []
    lines.append(f"  {'framework':<42}{'host us':>9}{'device us':>11}")
    for name, (host, dev) in burst_times(framework_calls(device), device, args.burst,
                                         rounds).items():
        lines.append(f"  {name:<42}{host * 1e6:>9.1f}{dev * 1e6:>11.1f}")
        rows.append({"call": name, "host_s": host, "device_s": dev})
    lines.append("")
    print("\n".join(lines[2:]), flush=True)
    for wl in args.workloads:
        size, batch = map(int, wl.split("x"))
        torch.manual_seed(0)
        G = DCGANGenerator(size, CHANNELS, Z_DIM, NGF, fused=False).to(device)
        x = torch.randn(batch, Z_DIM, 1, 1, device=device)
        totals: dict[str, list[float]] = {}
        shown = len(lines)
        lines.append(f"{size}x{size}, batch {batch}")
        lines.append(f"  {'block':<24}{'call':<18}{'host us':>9}{'device us':>11}")
        for i, block in enumerate(G.blocks):
            x = x.contiguous(memory_format=fmt)
            calls = {**block_calls(block, x, fmt), **block_steps(block, x, fmt)}
            for name, (host, dev) in burst_times(calls, device, args.burst, rounds).items():
                shape = f"{i}: {tuple(x.shape[1:])}"
                lines.append(f"  {shape:<24}{name:<18}{host * 1e6:>9.1f}{dev * 1e6:>11.1f}")
                rows.append({"image_size": size, "batch": batch, "block": i, "call": name,
                             "input": list(x.shape), "host_s": host, "device_s": dev})
                t = totals.setdefault(name, [0.0, 0.0])
                t[0], t[1] = t[0] + host, t[1] + dev
            with torch.no_grad():  # the next block's input
                x = conv_transpose_bn_act_reference(
                    x, block[0].weight, None, *((block[1].weight, block[1].bias) if len(block) > 2
                                                else (None, None)),
                    stride=block[0].stride, padding=block[0].padding,
                    normalize=len(block) > 2,
                    activation="relu" if len(block) > 2 else "tanh")
        lines.append("  all blocks:")
        for name, (host, dev) in totals.items():
            lines.append(f"  {'':<24}{name:<18}{host * 1e6:>9.1f}{dev * 1e6:>11.1f}")
        lines.append("")
        print("\n".join(lines[shown:]), flush=True)
    path = write_results(f"conv_calls_{args.layout}", device,
                         {"burst": args.burst, "rounds": rounds, "rows": rows, "table": lines})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
