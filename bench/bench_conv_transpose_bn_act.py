"""One DCGAN generator training step (forward + backward of G on a fixed
loss): pygan's fused ConvTransposeBNAct blocks against
  (a) eager torch modules (the same generator with fused=False),
  (b) torch.compile of (a),
  (c) (a) converted to channels-last (``model.to(memory_format=
      torch.channels_last)``): on the CPU the layout pygan's kernel uses, so
      (c) against pygan is what the fusion itself is worth there; on CUDA
      also "pygan NHWC", pygan's generator converted the same way (cuDNN
      then skips its NCHW <-> NHWC conversion kernels);
  "... gemm": on CUDA, pygan with cuDNN disabled, where its convolutions
      take pygan's GEMM route (cuBLAS GEMMs with col2im/im2col passes);
  "... graph": on CUDA, pygan, (a), the NHWC pair and pygan NHWC gemm with
      the whole step (zero_grad, forward, backward) captured in a CUDA graph
      and replayed: no host work per kernel, so their ratios are the
      kernels' own (small steps are bound by the host's launches otherwise).
--conditional times the class-conditional generator instead: the same
widths with pygan.nn.ConditionalConvTransposeBNAct blocks (per-sample
batch-norm scale and shift from 10 classes' embeddings; the image block
unconditional, as in DCGAN), against its unfused modules, their
torch.compile and their channels-last copy.
Floor: the transposed convolutions' FLOPs (forward, input and weight
gradients) at the measured matmul rate, and the bytes of one write and one
read per activation (forward and backward) at the measured copy bandwidth.

    python bench/bench_conv_transpose_bn_act.py [--device cpu|cuda] [--amp bf16]
    python bench/bench_conv_transpose_bn_act.py --conditional --workloads 32x64
    python bench/bench_conv_transpose_bn_act.py --profile 10 --workloads 32x64

--profile N prints torch.profiler's self-time table of N steps (after
warm-up) of pygan and of (a) instead of timing them; nothing is written.
"""
import argparse
import contextlib
import copy
from functools import partial

import torch
from torch import nn

from common import copy_bandwidth, device_name, matmul_rate, median_times, write_results
from pygan.models import DCGANGenerator
from pygan.models.dcgan import generator_layout
from pygan.nn import ConditionalConvTransposeBNAct, ConvTransposeBNAct

Z_DIM, NGF, CHANNELS, CLASSES = 100, 64, 3, 10
# Graphed pairs, pygan: baseline.
GRAPHED = {"pygan": "(a) eager", "pygan NHWC": "(c) eager NHWC", "pygan NHWC gemm": "(a) eager"}


class ConditionalGenerator(nn.Module):
    """DCGANGenerator's widths with class-conditional blocks: (z [B, z_dim],
    labels int64 [B]) -> images [B, channels, size, size]. The bench's own
    (pygan.models' conditional generators are another engineer's work)."""

    def __init__(self, image_size: int, channels: int, z_dim: int, ngf: int, classes: int,
                 fused: bool = True):
        super().__init__()
        sizes = generator_layout(image_size, z_dim, ngf)
        blocks = [ConditionalConvTransposeBNAct(a, b, 4, s, p, num_classes=classes, bias=False,
                                                fused=fused) for a, b, s, p in sizes]
        blocks.append(ConvTransposeBNAct(sizes[-1][1], channels, 4, 2, 1, bias=False, norm=False,
                                         activation="tanh", fused=fused))
        self.blocks = nn.ModuleList(blocks)
        for b in blocks:
            nn.init.normal_(_conv_of(b).weight, 0.0, 0.02)
            if isinstance(b, ConditionalConvTransposeBNAct):  # DCGAN's BN init, per class
                nn.init.normal_(b.scale.weight, 1.0, 0.02)

    @property
    def fused(self) -> bool:
        return all(b.fused for b in self.blocks)

    @fused.setter
    def fused(self, value: bool) -> None:
        for b in self.blocks:
            b.fused = value

    def forward(self, z, labels):
        x = z[:, :, None, None]
        for b in self.blocks[:-1]:
            x = b(x, labels)
        return self.blocks[-1](x)


def _conv_of(block: nn.Module) -> nn.ConvTranspose2d:
    return block.conv if isinstance(block, ConditionalConvTransposeBNAct) else block[0]


def conv_flops_and_bytes(G: nn.Module, batch: int, elem_bytes: int) -> tuple[float, float]:
    """FLOPs of every transposed convolution (forward + input grad + weight
    grad; no input grad for the first) and bytes of one write + one read of
    each block's output in the forward and of its gradient in the backward."""
    flops, nbytes, size = 0.0, 0.0, 1
    for i, block in enumerate(G.blocks):
        conv = _conv_of(block)
        k = conv.kernel_size[0]
        macs = batch * conv.in_channels * conv.out_channels * k * k * size * size
        flops += 2 * macs * (2 if i == 0 else 3)
        size = (size - 1) * conv.stride[0] - 2 * conv.padding[0] + k
        nbytes += 2 * 2 * batch * conv.out_channels * size * size * elem_bytes
    return flops, nbytes


def contenders(image_size: int, batch: int, device, amp: str | None, with_compile: bool,
               with_graphs: bool = False, conditional: bool = False):
    torch.manual_seed(0)
    fused = (ConditionalGenerator(image_size, CHANNELS, Z_DIM, NGF, CLASSES) if conditional
             else DCGANGenerator(image_size, CHANNELS, Z_DIM, NGF, fused=True)).to(device)
    eager = copy.deepcopy(fused)
    eager.fused = False  # the plain modules, contiguous weights as users have them
    z = torch.randn(batch, Z_DIM, device=device)
    inputs = (z, torch.randint(0, CLASSES, (batch,), device=device)) if conditional else (z,)
    weight = torch.randn(batch, CHANNELS, image_size, image_size, device=device)

    def step_of(model, graph_safe=False, cudnn=True):
        # cuDNN off: pygan's GEMM route (the other cuDNN flags at their defaults).
        route = contextlib.nullcontext if cudnn else partial(torch.backends.cudnn.flags, False)

        def step():
            model.zero_grad(set_to_none=True)
            with route():
                # Capture needs autocast's cast cache off (torch.cuda.graphs docs).
                with torch.autocast(device.type, torch.bfloat16, enabled=amp == "bf16",
                                    cache_enabled=not graph_safe):
                    out = model(*inputs)
                (out.float() * weight).mean().backward()
        return step

    fns = {"pygan": step_of(fused), "(a) eager": step_of(eager)}
    if with_compile:
        fns["(b) compile(a)"] = step_of(torch.compile(copy.deepcopy(eager)))
    models = {"pygan": fused, "(a) eager": eager,
              "(c) eager NHWC": copy.deepcopy(eager).to(memory_format=torch.channels_last)}
    fns["(c) eager NHWC"] = step_of(models["(c) eager NHWC"])
    if device.type == "cuda":  # the CPU kernel is channels-last already
        models["pygan NHWC"] = copy.deepcopy(fused).to(memory_format=torch.channels_last)
        fns["pygan NHWC"] = step_of(models["pygan NHWC"])
        for name in ("pygan", "pygan NHWC"):
            fns[f"{name} gemm"] = step_of(models[name], cudnn=False)
        if with_graphs:
            for name in dict.fromkeys([*GRAPHED, *GRAPHED.values()]):
                cudnn = not name.endswith(" gemm")
                fns[f"{name} graph"] = cuda_graph(step_of(
                    copy.deepcopy(models[name.removesuffix(" gemm")]), True, cudnn))
    return fns, fused


def cuda_graph(step):
    """step captured in a CUDA graph (after warm-up on a side stream, as
    capture requires); returns its replay. Gradients are set to None inside
    the step, so the captured backward allocates them from the graph's pool
    and every replay rewrites them."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def profile(args, device, amp) -> None:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    for w in args.workloads:
        size, batch = map(int, w.split("x"))
        fns, _ = contenders(size, batch, device, amp, with_compile=False,
                            conditional=args.conditional)
        for name, step in fns.items():
            for _ in range(5):
                step()
            with torch_profile(activities=activities) as prof:
                for _ in range(args.profile):
                    step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
            print(f"{size}x{size}, batch {batch}, {name}, {args.profile} steps, "
                  f"{torch.get_num_threads()} threads")
            events = prof.key_averages()
            print(events.table(sort_by="self_cpu_time_total", row_limit=15))
            if device.type == "cuda":  # host-bound when the kernels leave the GPU idle
                busy = sum(e.self_device_time_total for e in events
                           if e.device_type == DeviceType.CUDA) / args.profile
                print(events.table(sort_by="self_device_time_total", row_limit=15))
                print(f"kernel time {busy / 1e3:.3f} ms a step; host-bound when below the "
                      "step's median time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=["none", "bf16"], default="none")
    parser.add_argument("--reps", type=int, default=0, help="default: 30 on CPU, 100 on CUDA")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--workloads", nargs="*", default=["32x64", "32x128", "64x64", "64x128"],
                        help="SIZExBATCH")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print a profile of N steps of pygan and (a) instead of timing")
    parser.add_argument("--conditional", action="store_true",
                        help="the class-conditional generator (per-sample BN parameters)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    amp = None if args.amp == "none" else args.amp
    if args.profile:
        return profile(args, device, amp)
    reps = args.reps or (100 if device.type == "cuda" else 30)
    bw = copy_bandwidth(device)
    peak = matmul_rate(device, dtype=torch.bfloat16 if amp else torch.float32)
    lines = [f"{device_name(device)}; torch {torch.__version__}; amp {args.amp}; copy bandwidth "
             f"{bw / 1e9:.1f} GB/s; matmul {peak / 1e12:.2f} TFLOP/s", ""]
    rows = []
    print("\n".join(lines), flush=True)
    for w in args.workloads:
        shown = len(lines)
        size, batch = map(int, w.split("x"))
        fns, G = contenders(size, batch, device, amp, not args.no_compile, with_graphs=True,
                            conditional=args.conditional)
        flops, nbytes = conv_flops_and_bytes(G, batch, 2 if amp else 4)
        floor = max(flops / peak, nbytes / bw)
        med = median_times(fns, device, reps, warmup=3)
        lines.append(f"{'conditional, ' if args.conditional else ''}{size}x{size}, batch {batch}: "
                     f"{flops / 1e9:.2f} GFLOP "
                     f"({flops / peak * 1e3:.3f} ms at the matmul rate), {nbytes / 1e6:.1f} MB "
                     f"({nbytes / bw * 1e3:.3f} ms at copy bandwidth)")
        lines.append(f"  {'contender':<16}{'median ms':>10}{'pygan speedup':>15}{'x floor':>9}")
        for name, t in med.items():
            lines.append(f"  {name:<16}{t * 1e3:>10.3f}{t / med['pygan']:>14.2f}x"
                         f"{t / floor:>8.2f}x")
            rows.append({"image_size": size, "batch": batch, "conditional": args.conditional,
                         "contender": name,
                         "median_s": t, "speedup_of_pygan": t / med["pygan"],
                         "gflop": flops / 1e9, "mbytes": nbytes / 1e6, "floor_s": floor})
        for mine, theirs in GRAPHED.items():
            if f"{mine} graph" in med:
                lines.append(f"  CUDA graphs, {theirs} / {mine}: "
                             f"{med[f'{theirs} graph'] / med[f'{mine} graph']:.2f}x")
        lines.append("")
        print("\n".join(lines[shown:]), flush=True)  # a run cut short keeps what it measured
    suffix = (("_cond" if args.conditional else "") + ("" if amp is None else f"_{amp}")
              + (f"_{args.threads}t" if args.threads else ""))
    path = write_results(f"conv_transpose_bn_act{suffix}", device,
                         {"reps": reps, "copy_bandwidth": bw, "matmul_flops": peak, "rows": rows,
                          "table": lines})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
