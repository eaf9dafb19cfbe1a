"""SeqGAN on real text (Texygen's COCO captions, Chinese poems) on CPU: a
generator pre-trained by MLE, then trained adversarially; BLEU-2..5 of
generated sentences against a test file, self-BLEU-2..5 of them, and the
NLL of held-out sentences under the generator, after pre-training and every
--eval-every adversarial steps.

    python bench/quality/seqgan_text.py --name coco [--mle-epochs 30] [--adv-steps 30]
    python bench/quality/seqgan_text.py --name poems --level char --max-len 24 \\
        --train ../shared/data/chinese_poems/poems.txt --holdout 0.05 --adv-steps 0

Writes bench/quality/seqgan_<name>.{json,md}; the run goes to
bench/quality/runs/seqgan-<name>. With --test, BLEU is against every line of
that file (tokenized as the training file) and its NLL is reported; without,
the last --holdout of the training file's lines are held out (in file
order) for the NLL, and no BLEU is computed. The vocabulary is built from
the training lines only (tokens seen fewer than --min-count times there read
``<unk>``).

Metrics: ``pygan.metrics.bleu`` / ``self_bleu`` (nltk sentence_bleu with
smoothing method1, every reference a reference of every hypothesis); the
self-BLEU of N generated sentences scores each against the other N - 1.
Texygen's fast mode (its default) instead scores each generated sentence
against the first 500 test sentences (BLEU) and the first 500 generated sentences against each
other (self-BLEU); both are reported too ("BLEU, 500 refs", "self-BLEU, 500").

Departures from the paper code / Texygen, for 2 CPU cores: the oracle run's
small discriminator (1/8 of the feature maps, embedding 32), one round of
1,024 + 1,024 sequences x 3 epochs after each generator step, D learning rate
1e-3 (see seqgan_oracle.py), and fewer epochs and steps (the arguments).
"""
import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT.parent / "shared" / "data"
BATCH = 64
D_MAPS = "12,25,25,25,25,12,12,12,12,12,20,20"  # the paper's maps / 8
TEXYGEN = {  # COCO, BLEU-2..5 / self-BLEU-2..5 (shared/data/README.md)
    "MLE": ([.731, .497, .305, .189], [.916, .769, .583, .408]),
    "SeqGAN": ([.745, .498, .294, .180], [.950, .840, .670, .489]),
}
PUNCT = re.compile(r"\w+|[^\w\s]")  # words, and each punctuation mark a token of its own


def split_punct(sentence: list[str]) -> list[str]:
    return PUNCT.findall(" ".join(sentence))


def evaluate(trainer, args, refs, held_out, temperature=1.0) -> dict:
    """Scores of args.samples sentences sampled with a fixed seed."""
    import torch

    from pygan.metrics import bleu, self_bleu
    from pygan.metrics.text import nll

    G = trainer.sampler()
    gen = torch.Generator().manual_seed(args.seed + 12345)
    seqs = torch.cat([G.sample(min(2500, args.samples - i), temperature, gen)
                      for i in range(0, args.samples, 2500)])
    sentences = [trainer.vocab.decode(row) for row in seqs.tolist()]
    lengths = [len(s) for s in sentences]
    result = {"step": trainer.step, "temperature": temperature,
              "nll_held_out": round(nll(G, held_out), 4),
              "mean_length": round(sum(lengths) / len(lengths), 2),
              "unk_rate": round(sum(s.count("<unk>") for s in sentences) / max(1, sum(lengths)), 4),
              "distinct_sentences": len({tuple(s) for s in sentences}) / len(sentences)}
    result["self_bleu"] = list(self_bleu(sentences).values())
    result["self_bleu_500"] = list(self_bleu(sentences[:500]).values())
    if refs is not None:
        result["bleu"] = list(bleu(sentences, refs).values())
        result["bleu_500"] = list(bleu(sentences, refs[:500]).values())
        if args.level == "word":  # the same sentences, punctuation split off
            split = [split_punct(s) for s in sentences]
            result["bleu_punct"] = list(bleu(split, [split_punct(r) for r in refs]).values())
            result["self_bleu_punct"] = list(self_bleu(split).values())
    sep = "" if args.level == "char" else " "
    result["examples"] = [sep.join(s) for s in sentences[:args.show]]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="coco", help="output stem: seqgan_<name>.{md,json}")
    parser.add_argument("--train", default=str(DATA / "coco_captions" / "train.txt"))
    parser.add_argument("--test", default=None, help="default for --name coco*: its test.txt")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="without --test: the fraction of last lines held out")
    parser.add_argument("--level", choices=("word", "char"), default="word")
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=None, help="cap, specials included")
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--emb", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--mle-epochs", type=int, default=30)
    parser.add_argument("--d-pretrain-rounds", type=int, default=20)
    parser.add_argument("--adv-steps", type=int, default=30)
    parser.add_argument("--eval-every", type=int, default=10, help="adversarial steps")
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2000, help="generated sentences scored")
    parser.add_argument("--temperatures", default="0.9",
                        help="also score every model sampled at these (comma-separated)")
    parser.add_argument("--show", type=int, default=20, help="example sentences in the report")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.test is None and args.name.startswith("coco"):
        args.test = str(DATA / "coco_captions" / "test.txt")

    import torch

    from pygan.data import Vocab, read_sentences
    from pygan.data.text import encode_sentences
    from pygan.trainers import SeqGANConfig, SeqGANTrainer

    torch.set_num_threads(args.threads)
    begun = time.perf_counter()
    lines, _ = read_sentences(args.train, args.level)
    if args.test:
        train, refs = lines, read_sentences(args.test, args.level)[0]
        held = refs
    else:
        cut = len(lines) - round(args.holdout * len(lines))
        if not 0 < cut < len(lines):
            raise SystemExit("give --test or a --holdout fraction that leaves lines on both sides")
        train, held, refs = lines[:cut], lines[cut:], None
    vocab = Vocab.build(train, max_size=args.vocab_size, min_count=args.min_count)
    tokens, _, truncated = encode_sentences(train, vocab, args.max_len)
    held_tokens = encode_sentences(held, vocab, args.max_len)[0]
    epoch = len(tokens) // BATCH
    mle = args.mle_epochs * epoch
    common = dict(seed=args.seed, batch_size=BATCH, emb_dim=args.emb, hidden_dim=args.hidden,
                  d_emb_dim=32, d_maps=D_MAPS, d_lr=1e-3, d_rounds=1, d_samples=1024,
                  d_epochs=3, rollouts=args.rollouts, eval_every=0, progress=False,
                  log_every=epoch, sample_every=0, checkpoint_every=10 * epoch,
                  mle_steps=mle, d_pretrain_steps=args.d_pretrain_rounds)
    full = SeqGANConfig(**common, steps=mle + args.d_pretrain_rounds + args.adv_steps)
    run = HERE / "runs" / f"seqgan-{args.name}"
    shutil.rmtree(run, ignore_errors=True)  # every invocation is one experiment from scratch
    meta = {"data": args.train, "level": args.level}

    def train_to(steps):
        config = dataclasses.replace(full, steps=steps)
        trainer = SeqGANTrainer(config, tokens, run, meta=meta, vocab=vocab)
        start = time.perf_counter()
        trainer.fit()
        return trainer, time.perf_counter() - start

    print(f"{len(train)} training lines ({truncated} cut to {args.max_len}), vocabulary "
          f"{len(vocab)}, {len(held)} held-out lines, {epoch} steps an epoch", flush=True)
    trainer, mle_seconds = train_to(mle)
    after_mle = evaluate(trainer, args, refs, held_tokens)
    print("MLE", json.dumps({k: v for k, v in after_mle.items() if k != "examples"}), flush=True)
    temperatures = [float(t) for t in args.temperatures.split(",") if t]
    cooled = [evaluate(trainer, args, refs, held_tokens, t) for t in temperatures]
    adversarial, adv_seconds = [], 0.0
    if args.adv_steps:
        start = mle + args.d_pretrain_rounds
        marks = sorted({*range(start, full.steps, args.eval_every), full.steps} - {start})
        trainer, seconds = train_to(start)  # D pre-training
        d_seconds = seconds
        for mark in marks:
            trainer, seconds = train_to(mark)
            adv_seconds += seconds
            for t in [1.0, *temperatures]:
                adversarial.append(evaluate(trainer, args, refs, held_tokens, t))
                print(f"adversarial step {mark - start}", json.dumps(
                    {k: v for k, v in adversarial[-1].items() if k != "examples"}), flush=True)
    else:
        d_seconds = 0.0
    wall = time.perf_counter() - begun
    from pygan.trainers.runlog import read_metrics

    cols = read_metrics(run / "metrics.csv")
    d_acc = [(s, round(a, 3)) for s, a in zip(cols["step"], cols["acc_d"]) if a == a]
    command = "python bench/quality/seqgan_text.py " + " ".join(sys.argv[1:])
    result = {"command": command.strip(), "wall_seconds": round(wall),
              "mle_seconds": round(mle_seconds), "d_pretrain_seconds": round(d_seconds),
              "adversarial_seconds": round(adv_seconds), "settings": vars(args),
              "training_lines": len(train), "held_out_lines": len(held),
              "truncated": truncated, "vocab_size": len(vocab), "steps_per_epoch": epoch,
              "config": dataclasses.asdict(full), "after_mle": after_mle,
              "mle_cooled": cooled, "adversarial": adversarial, "acc_d": d_acc,
              "texygen": TEXYGEN if refs is not None else None}
    (HERE / f"seqgan_{args.name}.json").write_text(json.dumps(result, indent=1,
                                                              ensure_ascii=False) + "\n")
    text = report(result, args)
    (HERE / f"seqgan_{args.name}.md").write_text(text)
    print(text)


def beats_texygen(m: dict) -> bool:
    bleu, self_bleu = TEXYGEN["SeqGAN"]
    return (all(a >= b for a, b in zip(m["bleu"], bleu))
            and all(a <= b for a, b in zip(m["self_bleu"], self_bleu)))


def _f(values) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def report(r: dict, args) -> str:
    start = args.mle_epochs * r["steps_per_epoch"] + args.d_pretrain_rounds
    models = [(f"pygan MLE ({args.mle_epochs} epochs)", r["after_mle"])]
    models += [(f"pygan MLE sampled at temperature {c['temperature']}", c)
               for c in r["mle_cooled"]]
    models += [(f"pygan SeqGAN (+ {args.d_pretrain_rounds} D rounds, {a['step'] - start} "
                "adversarial steps" + (f", temperature {a['temperature']}"
                                       if a["temperature"] != 1 else "") + ")", a)
               for a in r["adversarial"]]
    head = (f"# SeqGAN on {Path(args.train).name} ({args.level} tokens)\n\n"
            f"Command: `{r['command']}` (wall time {r['wall_seconds'] / 60:.0f} min on the shared "
            f"2-core development machine, {args.threads} thread: MLE {r['mle_seconds'] / 60:.1f} "
            f"min, D pre-training {r['d_pretrain_seconds'] / 60:.1f} min, adversarial steps "
            f"{r['adversarial_seconds'] / 60:.1f} min, the rest sampling and scoring).\n\n"
            f"Data: {r['training_lines']} training lines ({r['truncated']} longer than "
            f"max_len {args.max_len}, cut), vocabulary {r['vocab_size']} (training tokens seen "
            f">= {args.min_count} times, 4 specials included), {r['held_out_lines']} held-out "
            f"lines ({'the test file' if args.test else f'the last {args.holdout:.0%} of the file'})."
            f" Generator: embedding {args.emb}, hidden {args.hidden}, batch {BATCH}.\n\n")
    if args.test:
        rows = [f"| {name} | {_f(m['bleu'])} | {_f(m['self_bleu'])} | {_f(m['bleu_500'])} "
                f"| {_f(m['self_bleu_500'])} "
                f"| {m['nll_held_out']:.3f} | {m['mean_length']:.1f} | {m['unk_rate']:.3f} "
                f"| {'yes' if beats_texygen(m) else 'no'} |" for name, m in models]
        rows += [f"| Texygen {k} | {_f(b)} | {_f(s)} | - | - | - | - | - | - |"
                 for k, (b, s) in TEXYGEN.items()]
        punct = [f"| {name} | {_f(m['bleu_punct'])} | {_f(m['self_bleu_punct'])} |"
                 for name, m in models if "bleu_punct" in m]
        body = ("BLEU-2/3/4/5 of " f"{args.samples} generated sentences against all "
                f"{r['held_out_lines']} test lines, self-BLEU-2/3/4/5 of the {args.samples} "
                "(each against the other "
                f"{args.samples - 1}); as Texygen's code computes them in its default fast "
                "mode, BLEU against the first 500 test lines and self-BLEU of the first 500 "
                "generated sentences, each against the other 499; NLL per token of the test lines (EOS included), "
                "mean generated length (tokens), share of `<unk>` tokens; whether the row "
                "meets the aim (BLEU-2..5 each at or above Texygen's SeqGAN row and "
                "self-BLEU-2..5 each at or below it).\n\n"
                "| model | BLEU-2/3/4/5 | self-BLEU-2/3/4/5 | BLEU, 500 refs | self-BLEU, 500 | "
                "NLL test | length | unk | aim |\n|---|---|---|---|---|---|---|---|---|\n" +
                "\n".join(rows) +
                "\n\nThe same sentences and test lines with punctuation split off "
                "(regex `\\w+|[^\\w\\s]`, closer to Texygen's nltk word_tokenize):\n\n"
                "| model | BLEU-2/3/4/5 | self-BLEU-2/3/4/5 |\n|---|---|---|\n" +
                "\n".join(punct) + "\n")
    else:
        rows = [f"| {name} | {m['nll_held_out']:.3f} | {_f(m['self_bleu'])} |"
                for name, m in models]
        body = (f"NLL per token of the held-out lines (EOS included when it fits), "
                f"self-BLEU-2/3/4/5 of {args.samples} generated lines.\n\n"
                "| model | NLL held out | self-BLEU-2/3/4/5 |\n|---|---|---|\n"
                + "\n".join(rows) + "\n")
    last_name, last = [(name, m) for name, m in models if m["temperature"] == 1][-1]
    examples = "\n".join(f"    {s}" for s in last["examples"])
    return (head + body + f"\nThe first {args.show} of the sentences of {last_name} "
            f"(sampled at temperature 1):\n\n{examples}\n")


if __name__ == "__main__":
    main()
