"""SeqGAN's synthetic-data experiment (Yu et al. 2017, section 5) on CPU:
the paper's oracle LSTM makes 10,000 training sequences of 20 tokens; a
generator (embedding 32, hidden 32, batch 64) is pre-trained by MLE, then
trained adversarially; an MLE-only control continues MLE from the same
pre-trained checkpoint for as many epochs as the adversarial phase has
steps (the paper's figure counts each adversarial step as an epoch).

    python bench/quality/seqgan_oracle.py [--mle-epochs 50] [--adv-steps 100]

Writes bench/quality/seqgan_oracle.{json,md,png}; runs go to
bench/quality/runs/seqgan-oracle/{seqgan,mle-only}. After the pre-training
the two continuations run side by side, one process and --threads threads each.

Departures from the paper's code, for 2 CPU cores (its discriminator
schedule is ~15 TFLOP per adversarial step): a discriminator with 1/8 of the
feature maps and embedding 32 (all 12 filter widths); one discriminator
round of 1,024 fresh negatives + 1,024 real sequences, 3 epochs, after each
generator step (the paper: 5 rounds of 10,000 + 10,000); --d-pretrain-rounds
such rounds of D pre-training (the paper: 50 rounds of 10,000 + 10,000); as
the discriminator gets ~1/50 of the paper's updates, its Adam learning rate
is 1e-3 rather than 1e-4 (at 1e-4 it stayed near chance: 59% held-out
accuracy after 20 rounds, 81% at 1e-3); --mle-epochs of pre-training (the
paper: 120). NLL-oracle during training
uses --curve-samples samples; the figures in the table use 10,000, as the paper.
"""
import argparse
import dataclasses
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ORACLE = ROOT.parent / "shared" / "data" / "seqgan_oracle_lstm.npz"
RUNS = HERE / "runs" / "seqgan-oracle"
TRAIN_SEQUENCES, BATCH = 10000, 64
EPOCH = TRAIN_SEQUENCES // BATCH  # generator steps per MLE epoch (the last partial batch dropped)
D_MAPS = "12,25,25,25,25,12,12,12,12,12,20,20"  # the paper's maps / 8
PAPER = {"random": 10.310, "MLE": 9.038, "SS": 8.985, "PG-BLEU": 8.946, "SeqGAN": 8.736}
TEMPERATURES = (0.9, 0.8)  # the control sampled cooler: how much lower entropy alone buys


def configs(args):
    from pygan.trainers import SeqGANConfig

    mle = args.mle_epochs * EPOCH
    common = dict(seed=args.seed, batch_size=BATCH, emb_dim=32, hidden_dim=32, d_emb_dim=32,
                  d_maps=D_MAPS, d_lr=1e-3, d_rounds=1, d_samples=1024, d_epochs=3,
                  eval_every=5 * EPOCH,
                  adv_eval_every=5, eval_samples=args.curve_samples, progress=False,
                  log_every=EPOCH, sample_every=0, checkpoint_every=10 * EPOCH)
    seqgan = SeqGANConfig(**common, mle_steps=mle, d_pretrain_steps=args.d_pretrain_rounds,
                          steps=mle + args.d_pretrain_rounds + args.adv_steps)
    control = SeqGANConfig(**common, mle_steps=mle + args.adv_steps * EPOCH, d_pretrain_steps=0,
                           steps=mle + args.adv_steps * EPOCH)
    return seqgan, control


def train(job):
    """Trains (or resumes) one run in its own process; returns its figures."""
    import torch

    from pygan.models import OracleLSTM
    from pygan.trainers import SeqGANConfig, SeqGANTrainer

    name, config, threads, oracle_path, seed, temperatures = job
    torch.set_num_threads(threads)
    oracle = OracleLSTM.from_npz(oracle_path)
    data = oracle.generate(TRAIN_SEQUENCES, seed=seed)
    trainer = SeqGANTrainer(SeqGANConfig(**config), data, RUNS / name, oracle=oracle)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    result = {"run": name, "step": trainer.step, "seconds": round(seconds, 1),
              "nll_oracle": trainer.nll_oracle(10000)}
    G = trainer.sampler()
    for t in temperatures:  # a cooler generator: fewer, likelier tokens
        gen = torch.Generator().manual_seed(seed + 12345)
        samples = torch.cat([G.sample(2500, t, gen) for _ in range(4)])
        result[f"nll_oracle_t{t}"] = trainer.oracle.log_probs(samples).mean().neg().item()
    return result


def curve(run: Path, epoch_of) -> list[tuple[float, float]]:
    from pygan.trainers.runlog import read_metrics

    cols = read_metrics(run / "metrics.csv")
    return [(epoch_of(s), v) for s, v in zip(cols["step"], cols["nll_oracle"]) if v == v]


def plot(curves: dict, mle_epochs: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in curves.items():
        ax.plot(*zip(*points), label=label, linewidth=1.2, marker=".", markersize=3)
    ax.axvline(mle_epochs, color="grey", linestyle="--", linewidth=0.8, label="end of pre-training")
    ax.axhline(PAPER["SeqGAN"], color="red", linestyle=":", linewidth=0.8, label="paper: SeqGAN")
    ax.axhline(PAPER["MLE"], color="black", linestyle=":", linewidth=0.8, label="paper: MLE")
    ax.set_xlabel("epoch (MLE epochs, then one per adversarial step)")
    ax.set_ylabel("NLL-oracle")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", default=str(ORACLE))
    parser.add_argument("--mle-epochs", type=int, default=50)
    parser.add_argument("--d-pretrain-rounds", type=int, default=20)
    parser.add_argument("--adv-steps", type=int, default=100)
    parser.add_argument("--curve-samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seqgan, control = configs(args)
    ctx = mp.get_context("spawn")
    begun = time.perf_counter()
    shutil.rmtree(RUNS, ignore_errors=True)  # every invocation is one experiment from scratch
    # 1. MLE pre-training: the SeqGAN run stopped where its adversarial part begins.
    pre = dict(dataclasses.asdict(seqgan), steps=seqgan.mle_steps)
    with ctx.Pool(1) as pool:
        pretrained = pool.apply(train, (("seqgan", pre, args.threads, args.oracle, args.seed,
                                         ()),))
    # 2. The control is that checkpoint with a longer MLE phase: a copy whose
    # recorded configuration is the control's, so the trainer resumes it.
    from pygan.trainers.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(RUNS / "seqgan" / "last.pt")
    save_checkpoint(RUNS / "mle-only" / "last.pt", {**ckpt, "config": dataclasses.asdict(control)})
    shutil.copy(RUNS / "seqgan" / "metrics.csv", RUNS / "mle-only" / "metrics.csv")
    # 3. Both continuations side by side.
    jobs = [("seqgan", dataclasses.asdict(seqgan), args.threads, args.oracle, args.seed, ()),
            ("mle-only", dataclasses.asdict(control), args.threads, args.oracle, args.seed,
             TEMPERATURES)]
    with ctx.Pool(2) as pool:
        adversarial, mle_only = pool.map(train, jobs)
    wall = time.perf_counter() - begun

    adv_start = seqgan.mle_steps + seqgan.d_pretrain_steps
    def seqgan_epoch(step):  # an adversarial step counts as an epoch, as in the paper's figure
        return step / EPOCH if step <= adv_start else args.mle_epochs + step - adv_start

    curves = {"SeqGAN": curve(RUNS / "seqgan", seqgan_epoch),
              "MLE only": curve(RUNS / "mle-only", lambda s: s / EPOCH)}
    plot(curves, args.mle_epochs, HERE / "seqgan_oracle.png")
    command = "nice -n 10 python bench/quality/seqgan_oracle.py " + " ".join(sys.argv[1:])
    result = {"command": command.strip(), "wall_seconds": round(wall), "settings": vars(args),
              "seqgan_config": dataclasses.asdict(seqgan), "after_mle": pretrained,
              "after_adversarial": adversarial, "mle_only": mle_only, "paper": PAPER,
              "curves": curves}
    (HERE / "seqgan_oracle.json").write_text(json.dumps(result, indent=1) + "\n")
    (HERE / "seqgan_oracle.md").write_text(report(result, args))
    print(report(result, args))


def report(r: dict, args) -> str:
    a, m, p = r["after_adversarial"], r["mle_only"], r["after_mle"]
    total = args.mle_epochs + args.adv_steps
    rows = [
        ("after MLE pre-training", f"{args.mle_epochs} MLE epochs", p["nll_oracle"], "9.038 (MLE)"),
        ("after adversarial training", f"+ {args.d_pretrain_rounds} D rounds, {args.adv_steps} "
         "adversarial steps", a["nll_oracle"], "8.736 (SeqGAN)"),
        ("MLE-only control", f"{total} MLE epochs", m["nll_oracle"], "9.038 (MLE)"),
    ] + [(f"MLE-only control sampled at temperature {t}", f"{total} MLE epochs",
          m[f"nll_oracle_t{t}"], "-") for t in TEMPERATURES]
    table = "\n".join(f"| {name} | {what} | {value:.3f} | {paper} |"
                      for name, what, value, paper in rows)
    return f"""# SeqGAN on the synthetic oracle (NLL-oracle, lower is better)

Command: `{r['command']}` (wall time {r['wall_seconds'] / 60:.0f} min on the
shared 2-core development machine, {args.threads} thread per process: pre-training
{p['seconds'] / 60:.0f} min, then side by side the adversarial part
{a['seconds'] / 60:.0f} min and the control's further MLE {m['seconds'] / 60:.0f} min).
NLL-oracle: mean -log p_oracle over 10,000 generated sequences of 20 tokens.

| model | training | NLL-oracle | paper |
|---|---|---|---|
{table}

Curve (NLL-oracle of {args.curve_samples} samples every 5 epochs / 5 adversarial
steps): `seqgan_oracle.png`. Departures from the paper's code, for the CPU
budget: see the docstring of `seqgan_oracle.py` (smaller discriminator, one
round of 1,024 + 1,024 sequences x 3 epochs after each generator step,
{args.mle_epochs} pre-training epochs, {args.d_pretrain_rounds} D pre-training
rounds, {args.adv_steps} adversarial steps). Rollout network update rate
{r['seqgan_config']['rollout_rate']}, {r['seqgan_config']['rollouts']} rollouts.
"""


if __name__ == "__main__":
    main()
