"""SeqGAN's reward computation (Monte Carlo rollouts of every prefix, then
the discriminator's probability of each completion): pygan's rollout op
against
  (a) the loop of the original SeqGAN code (LantaoYu/SeqGAN rollout.py)
      ported to PyTorch: for each rollout, for each prefix length, re-run the
      prefix, sample token by token (softmax + torch.multinomial), score the
      batch with the discriminator;
  (b) a vectorized PyTorch rollout: prefix states computed once, all
      rollouts and prefix lengths in one batch, logits + torch.multinomial
      per step, then one batched discriminator call (in chunks);
  (c) pygan.ops.rollout, then the same batched discriminator call.
Times: the rollouts alone and the full reward computation. Floor: the
output projection's FLOPs (2 H V per projected row; pygan projects the
prefix state of each (t, b) once for the first token of all N rollouts, so
it needs the fewest rows) at the device's peak (the faster of MKL's and
oneDNN's GEMM here).
--epoch also times one whole adversarial step of SeqGANTrainer on the
oracle (generator step with rewards, rollout update, 5 discriminator
rounds of 10,000 + 10,000 sequences, 3 epochs each) with (a) and with pygan.

    python bench/bench_rollout.py [--device cpu|cuda] [--settings paper large]
                                  [--a-rollouts K] [--threads N] [--epoch] [--append]

The discriminator is SeqGAN's CNN with a small configuration (emb 16,
widths 2,3,5, 8 maps each: ~50 kFLOP a sequence), so that it does not hide
the rollouts (the paper's 1,720 maps cost ~30 MFLOP a sequence).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from common import RESULTS, device_name, matmul_rate, median_times, sync, write_results
from pygan.models import CNNTextDiscriminator, LSTMGenerator, OracleLSTM
from pygan.ops import rollout

SETTINGS = {  # B, N, T, V, E, H
    "paper": (64, 16, 20, 5000, 32, 32),
    "large": (256, 16, 20, 20000, 32, 256),
}
D_CONFIG = dict(emb_dim=16, widths=(2, 3, 5), maps=(8, 8, 8))
SCORE_CHUNK = 8192
MULTINOMIAL_ROWS = 8192  # (b) samples this many rows at a time ([rows, V] logits)
# Interleaved reps and the rollouts of N that (a) is timed on, per device
# and setting: a CPU reward computation of the large setting takes minutes.
DEFAULT_REPS = {"cpu": {"paper": 5, "large": 1}, "cuda": {"paper": 20, "large": 5}}
DEFAULT_A_ROLLOUTS = {"cpu": {"paper": 2, "large": 1}, "cuda": {"paper": 16, "large": 4}}
ORACLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "seqgan_oracle_lstm.npz"


@torch.no_grad()
def loop_rewards(G: LSTMGenerator, D, seqs, n_rollouts: int, temperature: float = 1.0,
                 score: bool = True):
    """(a): rewards [B, T] (or only the samples when not score), the loop of
    the original code: per rollout, per prefix length, re-run the prefix."""
    B, T = seqs.shape
    rewards = seqs.new_zeros(T, B, dtype=torch.float32)
    for _ in range(n_rollouts):
        for given in range(1, T):
            state, tokens = None, seqs.new_full((B,), G.start_token)
            for pos in range(given):  # the prefix, re-run for every rollout
                state = G.cell(tokens, state)
                tokens = seqs[:, pos]
            columns = [seqs[:, :given]]
            for _ in range(given, T):
                state = G.cell(tokens, state)
                probs = F.softmax(G.out(state[0]) / temperature, dim=1)
                tokens = torch.multinomial(probs, 1).squeeze(1)
                columns.append(tokens[:, None])
            if score:
                rewards[given - 1] += torch.sigmoid(D(torch.cat(columns, 1)))
        if score:
            rewards[T - 1] += torch.sigmoid(D(seqs))
    return rewards.T / n_rollouts


@torch.no_grad()
def vectorized_completions(G: LSTMGenerator, seqs, n_rollouts: int, temperature: float = 1.0):
    """(b): [N, T-1, B, T] with prefix reuse and every rollout in one batch."""
    B, T = seqs.shape
    N = n_rollouts
    h_prefix, c_prefix = G.prefix_states(seqs)
    out = seqs.expand(N, T - 1, B, T).clone()
    h = c = h_prefix.new_empty(0, G.hidden_dim)
    for s in range(1, T):
        h = torch.cat([h, h_prefix[s].repeat(N, 1)])
        c = torch.cat([c, c_prefix[s].repeat(N, 1)])
        tokens = torch.cat([torch.multinomial(F.softmax(G.out(part) / temperature, 1), 1)[:, 0]
                            for part in h.split(MULTINOMIAL_ROWS)])
        out[:, :s, :, s] = tokens.view(s, N, B).transpose(0, 1)
        if s < T - 1:
            h, c = G.cell(tokens, (h, c))
    return out


@torch.no_grad()
def batched_rewards(D, completions, seqs):
    """Rewards [B, T] from completions [N, T-1, B, T]: one batched
    discriminator pass over all of them (in chunks)."""
    N, _, B, T = completions.shape
    flat = completions.reshape(-1, T)
    probs = torch.cat([torch.sigmoid(D(part)) for part in flat.split(SCORE_CHUNK)])
    prefix = probs.view(N, T - 1, B).mean(0)
    return torch.cat([prefix.T, torch.sigmoid(D(seqs))[:, None]], 1)


def peak_flops(device) -> float:
    """FLOP/s of the fastest float32 GEMM torch offers on device."""
    rate = matmul_rate(device)
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        from torch.utils import mkldnn
        n = 2048
        lin = mkldnn.to_mkldnn(torch.nn.Linear(n, n, bias=False))
        x = torch.randn(n, n).to_mkldnn()
        t = median_times({"onednn": lambda: lin(x)}, device, 10, warmup=2)["onednn"]
        rate = max(rate, 2 * n ** 3 / t)
    return rate


def projection_flops(B, N, T, V, H) -> tuple[float, float]:
    """(pygan's, the baselines') output-projection FLOPs per reward computation."""
    every = N * B * T * (T - 1) // 2
    pygan = B * (T - 1) + N * B * (T - 1) * (T - 2) // 2
    return 2.0 * H * V * pygan, 2.0 * H * V * every


def bench_setting(name, device, reps, a_rollouts, peak, lines, rows):
    B, N, T, V, E, H = SETTINGS[name]
    torch.manual_seed(0)
    G = LSTMGenerator(V, E, H, T, start_token=0).to(device).requires_grad_(False)
    D = CNNTextDiscriminator(V, **D_CONFIG).to(device).eval()
    seqs = G.sample(B, generator=torch.Generator(device).manual_seed(1))
    k = a_rollouts or N
    scale_a = N / k
    gen = torch.Generator(device).manual_seed(2)
    fns = {
        "rollout": {
            "(a) loop": lambda: loop_rewards(G, D, seqs, k, score=False),
            "(b) vectorized": lambda: vectorized_completions(G, seqs, N),
            "(c) pygan": lambda: rollout(G, seqs, N, generator=gen),
        },
        "reward": {
            "(a) loop": lambda: loop_rewards(G, D, seqs, k),
            "(b) vectorized": lambda: batched_rewards(D, vectorized_completions(G, seqs, N), seqs),
            "(c) pygan": lambda: batched_rewards(D, rollout(G, seqs, N, generator=gen), seqs),
        },
    }
    flops_pygan, flops_all = projection_flops(B, N, T, V, H)
    floor = flops_pygan / peak
    lines.append(f"{name}: B={B} N={N} T={T} V={V} E={E} H={H}; projection "
                 f"{flops_pygan / 1e9:.1f} GFLOP (baselines {flops_all / 1e9:.1f}); floor "
                 f"{floor * 1e3:.1f} ms")
    if k != N:
        lines.append(f"  (a) timed on {k} of the {N} rollouts (independent loops), "
                     f"scaled x{scale_a:g}")
    for what, contenders in fns.items():
        med = median_times(contenders, device, reps, warmup=1 if reps > 1 else 0)
        med["(a) loop"] *= scale_a
        lines.append(f"  {what:<8}{'median ms':>12}{'pygan speedup':>15}{'x floor':>9}")
        for who, t in med.items():
            lines.append(f"  {who:<16}{t * 1e3:>12.1f}{t / med['(c) pygan']:>14.2f}x"
                         f"{t / floor:>8.2f}x")
            rows.append({"setting": name, "threads": torch.get_num_threads(), "measure": what,
                         "contender": who, "median_s": t,
                         "speedup_of_pygan": t / med["(c) pygan"], "floor_s": floor,
                         "a_rollouts_timed": k if who == "(a) loop" else None})
    lines.append("")


def adversarial_epoch(device, reps, oracle_path: Path) -> dict:
    """Seconds of one adversarial step of SeqGANTrainer on the oracle with
    the loop rewards (a) and with the trainer's own (pygan) rewards."""
    from pygan.trainers import SeqGANConfig, SeqGANTrainer
    from pygan.trainers import seqgan as seqgan_module

    oracle = OracleLSTM.from_npz(oracle_path)
    data = oracle.generate(10000, seed=0)
    config = SeqGANConfig(seed=0, device=str(device), batch_size=64, mle_steps=0,
                          d_pretrain_steps=0, steps=1, d_emb_dim=D_CONFIG["emb_dim"],
                          d_widths=",".join(map(str, D_CONFIG["widths"])),
                          d_maps=",".join(map(str, D_CONFIG["maps"])), eval_every=0,
                          progress=False, sample_every=0, checkpoint_every=0)
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for who in ("(a) loop", "pygan"):
            samples = []
            for rep in range(reps):
                trainer = SeqGANTrainer(config, data, Path(tmp) / f"{who[:3]}{rep}", oracle=oracle)
                if who == "(a) loop":
                    trainer.rewards = lambda seqs, generator=None, t=trainer: loop_rewards(
                        t.models["rollout"], t.models["discriminator"].eval(), seqs,
                        t.config.rollouts, t.config.temperature)
                sync(device)
                start = time.perf_counter()
                trainer.train_step()
                sync(device)
                samples.append(time.perf_counter() - start)
            times[who] = sorted(samples)[len(samples) // 2]
    times["pygan rewards via"] = getattr(seqgan_module, "rollout", None) is rollout and "op" or \
        "rollout_completions (the trainer is not wired to the op)"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--reps", type=int, default=0, help="default: DEFAULT_REPS")
    parser.add_argument("--a-rollouts", type=int, default=0,
                        help="time (a) on this many of the N rollouts and scale (its rollouts "
                             "are independent loops); default: DEFAULT_A_ROLLOUTS")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--epoch", action="store_true", help="also time an adversarial step")
    parser.add_argument("--oracle", type=Path, default=ORACLE,
                        help="the oracle LSTM's .npz for --epoch (default: ../shared/data's)")
    parser.add_argument("--append", action="store_true",
                        help="add to bench/results/rollout_<device>.* instead of replacing them")
    args = parser.parse_args()
    if args.epoch and not args.oracle.is_file():
        parser.error(f"--oracle: no file {args.oracle}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = peak_flops(device)
    command = " ".join(["python bench/bench_rollout.py", *sys.argv[1:]])
    lines = [f"$ {command}", f"{device_name(device)}; torch {torch.__version__}; peak "
             f"{peak / 1e9:.0f} GFLOP/s; discriminator {D_CONFIG}; medians of interleaved reps", ""]
    rows, runs = [], [{"command": command, "threads": torch.get_num_threads(), "peak_flops": peak}]
    print("\n".join(lines), flush=True)
    for name in args.settings:
        shown = len(lines)
        reps = args.reps or DEFAULT_REPS[device.type][name]
        a_rollouts = args.a_rollouts or DEFAULT_A_ROLLOUTS[device.type][name]
        lines.append(f"[{reps} reps]")
        bench_setting(name, device, reps, a_rollouts, peak, lines, rows)
        print("\n".join(lines[shown:]), flush=True)  # a run cut short keeps what it measured
    if args.epoch:
        epoch, shown = adversarial_epoch(device, 1, args.oracle), len(lines)
        lines.append(f"one adversarial step of SeqGANTrainer on the oracle {args.oracle.name} "
                     "(G step with rewards, "
                     "rollout update, 5 D rounds x 3 epochs of 10,000 + 10,000):")
        for who in ("(a) loop", "pygan"):
            lines.append(f"  {who:<10}{epoch[who]:>10.1f} s")
        lines += [f"  pygan rewards via: {epoch['pygan rewards via']}", ""]
        runs[0]["adversarial_step_s"] = epoch
        print("\n".join(lines[shown:]))
    old = RESULTS / f"rollout_{device.type}.json"
    if args.append and old.is_file():
        previous = json.loads(old.read_text())
        runs, rows = previous["runs"] + runs, previous["rows"] + rows
        lines = previous["table"] + lines
    path = write_results("rollout", device, {"discriminator": D_CONFIG, "runs": runs,
                                             "rows": rows, "table": lines})
    md = path.with_suffix(".md")
    # The readings written under the table by hand stay; the table is regenerated.
    notes = md.read_text().rpartition("```\n")[2] if md.is_file() else ""
    md.write_text(
        f"# rollout on {device.type}\n\nMedians of interleaved rounds on a machine shared with "
        "other jobs (noisy); the contenders are in the script's docstring.\n\n```\n"
        + "\n".join(lines) + "\n```\n" + notes)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
