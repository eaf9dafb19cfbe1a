"""SeqGAN (Yu et al. 2017): an LSTM generator pre-trained by maximum
likelihood, then trained by REINFORCE with a CNN discriminator's probability
of "real" as the reward of every prefix, estimated by Monte Carlo rollouts
of a lagged copy of the generator."""
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..metrics.text import nll, oracle_nll
from ..models.oracle import OracleLSTM
from ..models.seqgan import (PAPER_MAPS, PAPER_WIDTHS, CNNTextDiscriminator, LSTMGenerator,
                             check_temperature)
from ..ops import rollout
from . import seqgan_data
from .base import Trainer
from .config import TrainConfig
from .sources import TensorBatches

SAMPLE_COUNT = 64  # sentences in samples/*.txt
GENERATE_CHUNK = 2500  # sequences sampled at a time
SCORE_CHUNK = 8192  # sequences the discriminator scores at a time


def _int_list(name: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except (AttributeError, ValueError):
        values = ()
    if not values or min(values) < 1:
        raise ValueError(f"{name} must be a comma-separated list of positive ints, got {text!r}")
    return values


@dataclass
class SeqGANConfig(TrainConfig):
    """The paper code's settings (LantaoYu/SeqGAN). A step is one generator
    minibatch in the MLE phase (the first ``mle_steps``: 120 epochs of 10,000
    sequences at batch 64), one discriminator round in the D pre-training
    phase (the next ``d_pretrain_steps``), and in the adversarial phase (the
    rest, up to ``steps``: 200 by default) one REINFORCE step of the
    generator followed by ``d_rounds`` rounds. A round: ``d_samples`` fresh
    generated sequences and as many real ones (0: as many as the data holds),
    ``d_epochs`` epochs over them at ``batch_size``.

    The rollout network starts as a copy of the generator when the
    adversarial phase begins; after each generator step its LSTM and output
    weights become ``rollout_rate * rollout + (1 - rollout_rate) * generator``
    and its embedding is copied (the paper code's formula; what that code in
    fact ran is ``rollout_rate = 0``: see docs/architecture.md).

    NLL-oracle (oracle runs) of ``eval_samples`` samples is logged every
    ``eval_every`` MLE steps, at the end of the MLE phase, every
    ``adv_eval_every`` adversarial steps and at the last step; 0 turns it off.
    """

    steps: int = 18970
    mle_steps: int = 18720
    d_pretrain_steps: int = 50
    emb_dim: int = 32
    hidden_dim: int = 32
    g_lr: float = 0.01
    grad_clip: float = 5.0  # global-norm clip of the generator's gradient; 0 disables it
    d_emb_dim: int = 64
    d_widths: str = ",".join(map(str, PAPER_WIDTHS))
    d_maps: str = ",".join(map(str, PAPER_MAPS))
    d_dropout: float = 0.25
    d_l2: float = 0.2
    d_lr: float = 1e-4
    d_rounds: int = 5
    d_epochs: int = 3
    d_samples: int = 0
    rollouts: int = 16
    rollout_rate: float = 0.8
    temperature: float = 1.0
    eval_every: int = 780
    adv_eval_every: int = 5
    eval_samples: int = 10000

    def validate(self) -> None:
        super().validate()
        for name in ("emb_dim", "hidden_dim", "d_emb_dim", "d_epochs", "rollouts",
                     "adv_eval_every", "eval_samples"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("mle_steps", "d_pretrain_steps", "d_rounds", "d_samples", "eval_every",
                     "grad_clip", "d_l2"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        check_temperature(self.temperature)
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout!r}")
        if not 0.0 <= self.rollout_rate <= 1.0:
            raise ValueError(f"rollout_rate must be in [0, 1], got {self.rollout_rate!r}")
        widths, maps = _int_list("d_widths", self.d_widths), _int_list("d_maps", self.d_maps)
        if len(widths) != len(maps):
            raise ValueError(f"d_widths and d_maps must be equally long, got {len(widths)} "
                             f"widths and {len(maps)} maps")
        defaults = {f.name: f.default for f in fields(TrainConfig)}
        for name, why in (("d_steps", "its schedule is d_rounds rounds after each generator step"),
                          ("instance_noise", "its inputs are token ids"),
                          ("amp", "it runs in float32")):
            if getattr(self, name) != defaults[name]:
                raise ValueError(f"{name} does not apply to SeqGAN ({why}), got "
                                 f"{getattr(self, name)!r}")


class SeqGANTrainer(Trainer):
    """SeqGAN: an LSTM generator trained by MLE, then by policy gradient.

    ``data``: int64 token ids [N, T]. Give an ``oracle`` (the synthetic
    experiment: its samples are the data and it scores the generator,
    NLL-oracle) or a ``vocab`` (text: ids of a :class:`pygan.data.Vocab`, the
    generator starting from BOS and ending at EOS). Either is recorded in
    ``meta`` (the oracle's source, the vocabulary's tokens), so a reopened
    run (:func:`pygan.trainers.runs.open_run`) can decode and evaluate.
    Models: "generator", "rollout" (the lagged copy), "discriminator".
    """

    family = "seqgan"
    config_class = SeqGANConfig

    def __init__(self, config: SeqGANConfig, data, run_dir, callbacks=(),
                 meta: dict | None = None, oracle: OracleLSTM | None = None, vocab=None):
        from ..data import Vocab

        meta = dict(meta or {})
        if oracle is not None:
            if not isinstance(oracle, OracleLSTM):
                raise ValueError(f"oracle must be an OracleLSTM, got {type(oracle).__name__}")
            meta["oracle"] = oracle.source
        elif "oracle" in meta:
            oracle = OracleLSTM.from_source(meta["oracle"])
        if vocab is not None:
            if not isinstance(vocab, Vocab):
                raise ValueError(f"vocab must be a pygan.data.Vocab, got {type(vocab).__name__}")
            meta["vocab"] = vocab.state_dict()
        elif "vocab" in meta:
            vocab = Vocab.from_state_dict(meta["vocab"])
        if (oracle is None) == (vocab is None):
            raise ValueError("SeqGANTrainer needs exactly one of oracle (synthetic data) and "
                             f"vocab (text); got {'both' if oracle is not None else 'neither'}")
        self.oracle, self.vocab = oracle, vocab
        super().__init__(config, data, run_dir, callbacks, meta)
        if self.oracle is not None:
            self.oracle.to(self.device)
        self.metric_names = ("loss_mle", "loss_d", "acc_d", "loss_g", "reward") + (
            ("nll_oracle",) if self.oracle is not None else ())

    # -- models ------------------------------------------------------------------
    def build(self) -> None:
        from ..data import Vocab

        c = self.config
        if len(self.data_shape) != 1:
            raise ValueError(f"SeqGANTrainer takes token ids [N, T]; got examples of shape "
                             f"{list(self.data_shape)}")
        length = self.data_shape[0]
        if length < 2:
            raise ValueError(f"SeqGANTrainer needs sequences of at least 2 tokens (rollouts "
                             f"complete prefixes of 1 .. T-1 tokens); the data has T = {length}")
        if self.oracle is not None:
            vocab_size, special = self.oracle.vocab_size, dict(start_token=0)
            if length != self.oracle.max_len:
                raise ValueError(f"the data has {length} tokens a sequence but the oracle "
                                 f"writes {self.oracle.max_len}")
        else:
            vocab_size = len(self.vocab)
            special = dict(start_token=Vocab.BOS, eos_token=Vocab.EOS, pad_token=Vocab.PAD)
        if isinstance(self.source, TensorBatches):
            self._check_data(self.source.tensors, vocab_size)
        G = LSTMGenerator(vocab_size, c.emb_dim, c.hidden_dim, length, **special)
        R = LSTMGenerator(vocab_size, c.emb_dim, c.hidden_dim, length, **special)
        R.load_state_dict(G.state_dict())
        D = CNNTextDiscriminator(vocab_size, c.d_emb_dim, _int_list("d_widths", c.d_widths),
                                 _int_list("d_maps", c.d_maps), c.d_dropout)
        self.models.update(generator=G, rollout=R.requires_grad_(False), discriminator=D)
        # Two Adams on the generator, as the paper code has: the adversarial
        # phase starts with fresh moments rather than MLE's.
        self.optimizers.update(generator_mle=torch.optim.Adam(G.parameters(), c.g_lr),
                               generator=torch.optim.Adam(G.parameters(), c.g_lr),
                               discriminator=torch.optim.Adam(D.parameters(), c.d_lr))

    def _check_data(self, tensors: tuple[Tensor, ...], vocab_size: int) -> None:
        tokens = tensors[0]
        if len(tensors) != 1 or tokens.dtype != torch.int64:
            raise ValueError(f"SeqGANTrainer takes one int64 tensor of token ids [N, T], got "
                             f"{[f'{t.dtype} {list(t.shape)}' for t in tensors]}")
        if int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size}), got "
                             f"{int(tokens.min())}..{int(tokens.max())}")
        n = self.config.d_samples or len(tokens)
        if n > len(tokens) or 2 * n < self.config.batch_size:
            raise ValueError(f"d_samples must be at most the {len(tokens)} real sequences and "
                             f"give at least one batch of {self.config.batch_size} with as many "
                             f"generated ones, got {self.config.d_samples}")

    # -- the phases --------------------------------------------------------------
    @property
    def adversarial_start(self) -> int:
        return self.config.mle_steps + self.config.d_pretrain_steps

    def phase(self, step: int) -> str:
        """"mle", "d_pretrain" or "adversarial": the phase of 0-based ``step``."""
        if step < self.config.mle_steps:
            return "mle"
        return "d_pretrain" if step < self.adversarial_start else "adversarial"

    def train_step(self) -> dict[str, Tensor]:
        G, phase = self.models["generator"], self.phase(self.step)
        values = dict.fromkeys(self.metric_names, math.nan)
        if phase == "mle":
            values["loss_mle"] = self.mle_step()
        elif phase == "d_pretrain":
            values["loss_d"], values["acc_d"] = self.d_round()
        else:
            values.update(self.adversarial_step())
        if phase != "d_pretrain" and self.ema is not None:
            self.ema.update(G)
        self.step += 1
        if self.oracle is not None and self.eval_due(self.step):
            values["nll_oracle"] = self.nll_oracle()
        return {k: torch.as_tensor(v, dtype=torch.float32).detach().cpu()
                for k, v in values.items()}

    def mle_step(self) -> Tensor:
        G = self.models["generator"]
        loss = G.nll_loss(self.next_batch()[0])
        self.optimize("loss_mle", loss, self.optimizers["generator_mle"], G, self.config.grad_clip)
        return loss.detach()

    def d_round(self) -> tuple[Tensor, Tensor]:
        """One discriminator round: as many fresh samples of the generator as
        real sequences (``d_samples`` of them, drawn anew), ``d_epochs``
        epochs of BCE (+ ``d_l2`` times the output layer's L2) over both.
        Returns the mean loss (without the L2 term) and accuracy."""
        c, D = self.config, self.models["discriminator"]
        real = self.source.tensors[0]
        n = c.d_samples or len(real)
        pos = real[torch.randperm(len(real), generator=self.generator)[:n]].to(self.device)
        x = torch.cat([pos, self.generate(n)])
        y = torch.cat([torch.full((n,), self.real_label), torch.zeros(n)]).to(self.device)
        losses, hits = [], []
        for _ in range(c.d_epochs):
            order = torch.randperm(2 * n, generator=self.generator).to(self.device)
            for idx in order[:len(order) - len(order) % c.batch_size].view(-1, c.batch_size):
                logits = D(x[idx])
                loss = F.binary_cross_entropy_with_logits(logits, y[idx])
                self.optimize("loss_d", loss + c.d_l2 * D.l2_penalty(),
                              self.optimizers["discriminator"], D)
                losses.append(loss.detach())
                hits.append(((logits > 0) == (y[idx] > 0.5)).float().mean())
        return torch.stack(losses).mean(), torch.stack(hits).mean()

    def adversarial_step(self) -> dict[str, Tensor]:
        """One policy-gradient step of the generator on a fresh batch, the
        rollout network's update, then ``d_rounds`` discriminator rounds."""
        c = self.config
        G, R = self.models["generator"], self.models["rollout"]
        if self.step == self.adversarial_start:
            R.load_state_dict(G.state_dict())
        rng = self._device_generator()
        seqs = G.sample(c.batch_size, c.temperature, rng)
        rewards = self.rewards(seqs, rng)
        mask = G.token_mask(seqs)
        loss = -(G.log_probs(seqs, c.temperature) * rewards * mask).sum() / mask.sum()
        self.optimize("loss_g", loss, self.optimizers["generator"], G, c.grad_clip)
        self.update_rollout()
        values = {"loss_g": loss.detach(), "reward": rewards[:, -1].mean()}
        rounds = [self.d_round() for _ in range(c.d_rounds)]
        if rounds:
            values["loss_d"] = torch.stack([r[0] for r in rounds]).mean()
            values["acc_d"] = torch.stack([r[1] for r in rounds]).mean()
        return values

    @torch.no_grad()
    def rewards(self, seqs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """float32 [B, T] rewards of sequences [B, T] (on the trainer's device):
        for token t < T-1, the discriminator's probability of "real" averaged
        over ``rollouts`` completions of the prefix of t+1 tokens by the
        rollout network (:func:`pygan.ops.rollout`: its Philox seed is drawn
        from ``generator``); for the last token, its probability for ``seqs``.
        All N*(T-1)*B completions are scored in SCORE_CHUNK batches."""
        B, T = seqs.shape
        n = self.config.rollouts
        done = rollout(self.models["rollout"], seqs, n, self.config.temperature,
                       generator=generator)
        prefix = self.real_probability(done.view(-1, T)).view(n, T - 1, B).mean(0)
        return torch.cat([prefix.T, self.real_probability(seqs)[:, None]], 1)

    @torch.no_grad()
    def real_probability(self, seqs: Tensor) -> Tensor:
        """The discriminator's probability of "real" (eval mode: no dropout),
        float32 [N] for sequences [N, T], ``SCORE_CHUNK`` at a time."""
        D = self.models["discriminator"]
        D.eval()
        out = torch.cat([torch.sigmoid(D(part)) for part in seqs.split(SCORE_CHUNK)])
        D.train()
        return out

    @torch.no_grad()
    def update_rollout(self) -> None:
        """rollout = rate * rollout + (1 - rate) * generator for the LSTM and
        the output layer; the embedding is copied (the paper code's rule)."""
        G, R = self.models["generator"], self.models["rollout"]
        R.embedding.weight.copy_(G.embedding.weight)
        lagged = [*R.lstm.parameters(), *R.out.parameters()]
        torch._foreach_lerp_(lagged, [*G.lstm.parameters(), *G.out.parameters()],
                             1.0 - self.config.rollout_rate)

    def eval_due(self, step: int) -> bool:
        """Whether NLL-oracle is computed after ``step`` steps (see SeqGANConfig)."""
        c = self.config
        if c.eval_every == 0:
            return False
        if step == c.steps or step == c.mle_steps:
            return True
        if step < c.mle_steps:
            return step % c.eval_every == 0
        return step > self.adversarial_start and \
            (step - self.adversarial_start) % c.adv_eval_every == 0

    def log_due(self, step: int) -> bool:
        return super().log_due(step) or (self.oracle is not None and self.eval_due(step))

    # -- sampling ----------------------------------------------------------------
    def _device_generator(self) -> torch.Generator:
        """A generator on the trainer's device seeded from the trainer's own,
        whose state the checkpoint holds, so sampling resumes exactly."""
        seed = int(torch.randint(2 ** 62, (1,), generator=self.generator))
        return torch.Generator(self.device).manual_seed(seed)

    def generate(self, n: int, model: LSTMGenerator | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """n sequences int64 [n, T] on the device from ``model`` (default: the
        generator), ``GENERATE_CHUNK`` at a time."""
        model = model or self.models["generator"]
        generator = generator or self._device_generator()
        return torch.cat([model.sample(min(GENERATE_CHUNK, n - i), self.config.temperature,
                                       generator) for i in range(0, n, GENERATE_CHUNK)])

    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """n sequences int64 [n, T] on the device from the generator (its EMA
        when enabled); the same ``seed`` gives the same sequences."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"sample: n must be a positive int, got {n!r}")
        seed = self.config.seed + 12345 if seed is None else seed
        return self.generate(n, self.sampler(), torch.Generator(self.device).manual_seed(seed))

    def nll_oracle(self, n: int | None = None) -> float:
        """NLL-oracle of n (default ``eval_samples``) samples drawn with a fixed seed."""
        if self.oracle is None:
            raise ValueError("nll_oracle needs an oracle run; this one is text")
        return oracle_nll(self.oracle, self.sample(n or self.config.eval_samples))

    def decode(self, seqs: Tensor) -> list[str]:
        """One line per sequence: text runs decode to words (characters for
        level "char"), oracle runs write the ids."""
        rows = seqs.tolist()
        if self.vocab is None:
            return [" ".join(map(str, row)) for row in rows]
        sep = "" if self.meta.get("level") == "char" else " "
        return [sep.join(self.vocab.decode(row)) for row in rows]

    def write_samples(self, n: int, path, seed: int | None = None) -> Path:
        """Writes n samples, one a line (see :meth:`decode`), to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.decode(self.sample(n, seed))) + "\n", encoding="utf-8")
        return path

    def save_samples(self, path: Path) -> Path:
        return self.write_samples(SAMPLE_COUNT, Path(path).with_suffix(".txt"))

    # -- the `pygan` command -----------------------------------------------------
    @classmethod
    def add_data_arguments(cls, parser) -> None:
        seqgan_data.add_data_arguments(parser)

    @classmethod
    def data_from_args(cls, args, config):
        return seqgan_data.data_from_args(args)

    def evaluate_run(self, args) -> dict:
        """`pygan eval`: NLL-oracle of ``args.n`` samples (oracle runs), or
        self-BLEU-2..5 of ``args.n`` samples, the NLL of ``args.test`` under
        the generator (at ``config.temperature``, as it samples) and BLEU-2..5 against ``args.reference`` (default: the
        test file) (text runs). ``args.n`` 0 means ``eval_samples``."""
        from ..data import load_text, read_sentences
        from ..metrics import bleu, self_bleu

        n = args.n or self.config.eval_samples
        if self.oracle is not None:
            return {"samples": n, "nll_oracle": self.nll_oracle(n)}
        level = self.meta.get("level", "word")
        sentences = [self.vocab.decode(row) for row in self.sample(n).tolist()]
        result = {"samples": n, **{f"self_bleu{k}": v for k, v in self_bleu(sentences).items()}}
        if args.test:
            test = load_text(args.test, level, self.data_shape[0], vocab=self.vocab)
            result["nll_test"] = nll(self.sampler(), test.tokens,
                                     temperature=self.config.temperature)
        reference = args.reference or args.test
        if reference:
            result.update({f"bleu{k}": v for k, v in
                           bleu(sentences, read_sentences(reference, level)[0]).items()})
        return result
