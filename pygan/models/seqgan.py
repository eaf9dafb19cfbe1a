"""SeqGAN (Yu et al. 2017): the LSTM generator, the CNN text discriminator
with a highway layer, and the Monte Carlo rollouts that turn the
discriminator's verdict on whole sequences into a reward for every prefix."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.rollout import CPU_CHUNK_FLOATS, GPU_CHUNK_ROWS, rollout_reference, sample_tokens

# The paper code's discriminator (LantaoYu/SeqGAN, sequence_gan.py).
PAPER_WIDTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_MAPS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


def _check_positive(owner: str, **values) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def check_tokens(name: str, seqs: Tensor, length: int | None = None) -> None:
    """Raises ValueError naming ``name`` unless ``seqs`` is an int64 [B, T]
    tensor (with T == ``length`` when given)."""
    if not isinstance(seqs, Tensor) or seqs.dtype != torch.int64 or seqs.dim() != 2:
        got = (f"{seqs.dtype} {list(seqs.shape)}" if isinstance(seqs, Tensor)
               else type(seqs).__name__)
        raise ValueError(f"{name} must be an int64 tensor [B, T], got {got}")
    if length is not None and seqs.shape[1] != length:
        raise ValueError(f"{name} must have {length} tokens a row, got {seqs.shape[1]}")


def check_temperature(temperature) -> None:
    if not isinstance(temperature, (int, float)) or not 0 < temperature < float("inf"):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")


class LSTMGenerator(nn.Module):
    """An LSTM language model over ``vocab_size`` tokens that writes sequences
    of ``max_len`` tokens, starting from ``start_token``.

    Parameters (what a fused rollout kernel reads): ``embedding.weight``
    [V, E]; one ``torch.nn.LSTM`` layer, ``lstm.weight_ih_l0`` [4H, E],
    ``lstm.weight_hh_l0`` [4H, H], ``lstm.bias_ih_l0`` and ``lstm.bias_hh_l0``
    [4H], gate order i, f, g, o; ``out.weight`` [V, H], ``out.bias`` [V].
    All are drawn from N(0, ``init_std``) (the paper's code: 0.1).

    Step j reads the previous token (``start_token`` at j = 0) and predicts
    token j. With ``eos_token`` set (text), a sequence ends at its first EOS:
    what follows is replaced by ``pad_token`` in samples and is not scored
    (:meth:`token_mask`). Sequences are int64 [B, max_len] on the module's device.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, max_len: int,
                 start_token: int, eos_token: int | None = None, pad_token: int = 0,
                 init_std: float = 0.1):
        super().__init__()
        _check_positive("LSTMGenerator", vocab_size=vocab_size, emb_dim=emb_dim,
                        hidden_dim=hidden_dim, max_len=max_len)
        for name, token in (("start_token", start_token), ("eos_token", eos_token),
                            ("pad_token", pad_token)):
            if token is not None and not (isinstance(token, int) and 0 <= token < vocab_size):
                raise ValueError(f"LSTMGenerator: {name} must be an id in [0, {vocab_size}), "
                                 f"got {token!r}")
        self.vocab_size, self.max_len = vocab_size, max_len
        self.start_token, self.eos_token, self.pad_token = start_token, eos_token, pad_token
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0.0, init_std)

    @property
    def hidden_dim(self) -> int:
        return self.lstm.hidden_size

    def initial_state(self, batch: int) -> tuple[Tensor, Tensor]:
        """(h, c), each [batch, H] zeros."""
        h = self.out.weight.new_zeros(batch, self.hidden_dim)
        return h, h.clone()

    def cell(self, tokens: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """The LSTM state after reading ``tokens`` [B] from ``state`` (None: zeros)."""
        if state is None:
            state = self.initial_state(len(tokens))
        lstm = self.lstm
        return torch.lstm_cell(self.embedding(tokens), list(state), lstm.weight_ih_l0,
                               lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor] | None
             ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """tokens [B] int64, state (h, c) [B, H] or None -> (logits [B, V], new state)."""
        state = self.cell(tokens, state)
        return self.out(state[0]), state

    def sample_next(self, h: Tensor, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> Tensor:
        """The next token int64 [R] of every hidden state h [R, H]: the output
        projection and :func:`sample_tokens`, a cache-sized chunk of rows at a time."""
        rows = max(16, CPU_CHUNK_FLOATS // self.vocab_size) if h.device.type == "cpu" \
            else GPU_CHUNK_ROWS
        return torch.cat([sample_tokens(self.out(part), temperature, generator)
                          for part in h.split(rows)])

    def forward(self, seqs: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V] of sequences [B, T] (T <= max_len)."""
        check_tokens("seqs", seqs)
        start = seqs.new_full((len(seqs), 1), self.start_token)
        hidden, _ = self.lstm(self.embedding(torch.cat([start, seqs[:, :-1]], 1)))
        return self.out(hidden)

    def log_probs(self, seqs: Tensor, temperature: float = 1.0) -> Tensor:
        """log p(token j | tokens < j) of each token of ``seqs`` [B, T] under
        softmax(logits / temperature): float32 [B, T]."""
        check_temperature(temperature)
        logits = self(seqs).float() / temperature
        return -F.cross_entropy(logits.flatten(0, 1), seqs.flatten(),
                                reduction="none").view(seqs.shape)

    def token_mask(self, seqs: Tensor) -> Tensor:
        """bool [B, T]: the tokens that count, i.e. up to and including the
        first EOS (every token when ``eos_token`` is None)."""
        if self.eos_token is None:
            return torch.ones_like(seqs, dtype=torch.bool)
        eos = seqs == self.eos_token
        return (eos.cumsum(1) - eos.long()) == 0

    def nll_loss(self, seqs: Tensor) -> Tensor:
        """Mean -log p over the tokens that count (0-dim, differentiable)."""
        mask = self.token_mask(seqs)
        return -(self.log_probs(seqs) * mask).sum() / mask.sum()

    def finish(self, seqs: Tensor) -> Tensor:
        """``seqs`` with every token after the first EOS set to PAD."""
        if self.eos_token is None:
            return seqs
        return seqs.masked_fill(~self.token_mask(seqs), self.pad_token)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
        """n sequences int64 [n, max_len] on the module's device, token by
        token from softmax(logits / temperature); ``generator`` (on that
        device) makes them reproducible."""
        _check_positive("sample", n=n)
        check_temperature(temperature)
        tokens = torch.full((n,), self.start_token, dtype=torch.int64,
                            device=self.out.weight.device)
        state, columns = None, []
        for _ in range(self.max_len):
            state = self.cell(tokens, state)
            tokens = self.sample_next(state[0], temperature, generator)
            columns.append(tokens)
        return self.finish(torch.stack(columns, 1))

    def prefix_states(self, seqs: Tensor) -> tuple[Tensor, Tensor]:
        """(h, c), each [T, B, H]: index t is the state after reading the
        start token and tokens 0..t-1 of ``seqs`` [B, T], i.e. the state whose
        output predicts token t."""
        check_tokens("seqs", seqs)
        tokens = seqs.new_full((len(seqs),), self.start_token)
        state, hs, cs = None, [], []
        for t in range(seqs.shape[1]):
            state = self.cell(tokens, state)
            hs.append(state[0])
            cs.append(state[1])
            tokens = seqs[:, t]
        return torch.stack(hs), torch.stack(cs)


def rollout_completions(model: LSTMGenerator, seqs: Tensor, n_rollouts: int,
                        temperature: float = 1.0,
                        generator: torch.Generator | None = None) -> Tensor:
    """SeqGAN's Monte Carlo search in pure PyTorch: int64 [N, T-1, B, T],
    ``out[n, t-1, b, :t] == seqs[b, :t]``, the rest sampled from ``model``
    with ``generator``. It is :func:`pygan.ops.rollout_reference`, the
    reference of the ``rollout`` op that the trainer runs."""
    return rollout_reference(model, seqs, n_rollouts, temperature, generator)


class Highway(nn.Module):
    """One highway layer (Srivastava et al. 2015) on [B, F]:
    t * relu(W_H x) + (1 - t) * x with gate t = sigmoid(W_T x + gate_bias)."""

    def __init__(self, features: int, gate_bias: float = 0.0):
        super().__init__()
        _check_positive("Highway", features=features)
        self.proj = nn.Linear(features, 2 * features)  # W_H and W_T in one matmul
        with torch.no_grad():
            self.proj.bias[features:].fill_(gate_bias)

    def forward(self, x: Tensor) -> Tensor:
        h, t = self.proj(x).chunk(2, dim=1)
        gate = torch.sigmoid(t)
        return gate * torch.relu(h) + (1.0 - gate) * x


class CNNTextDiscriminator(nn.Module):
    """Sequences int64 [B, T] -> logits [B] of "real" (Kim 2014's CNN as
    SeqGAN uses it).

    Token embeddings (``emb_dim``); one convolution per entry of ``widths``
    with ``maps[i]`` feature maps, ReLU and max-over-time pooling; the pooled
    features concatenated, one highway layer, dropout (probability
    ``dropout``: the paper's keep 0.75 is 0.25), a linear output.
    :meth:`l2_penalty` is the paper's L2 term on the output layer (add
    ``lambda * l2_penalty()`` to the loss; the paper's lambda is 0.2).

    Widths longer than the sequence: the embedded sequence is padded at its
    end with zero vectors up to the widest filter, so every filter sees at
    least one window (a filter wider than T scores the whole sequence with
    its surplus taps reading zeros). The paper's setting has T = 20 = the
    widest filter, where no padding happens. The paper's two-class softmax
    is one logit here (the difference of its two logits).
    """

    def __init__(self, vocab_size: int, emb_dim: int = 64, widths=PAPER_WIDTHS,
                 maps=PAPER_MAPS, dropout: float = 0.25):
        super().__init__()
        widths, maps = tuple(widths), tuple(maps)
        _check_positive("CNNTextDiscriminator", vocab_size=vocab_size, emb_dim=emb_dim)
        if not widths or len(widths) != len(maps):
            raise ValueError(f"CNNTextDiscriminator: widths and maps must be non-empty and of "
                             f"equal length, got {len(widths)} widths and {len(maps)} maps")
        for i, (w, m) in enumerate(zip(widths, maps)):
            _check_positive("CNNTextDiscriminator", **{f"widths[{i}]": w, f"maps[{i}]": m})
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"CNNTextDiscriminator: dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size, self.widths = vocab_size, widths
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList(nn.Conv1d(emb_dim, m, w) for w, m in zip(widths, maps))
        self.highway = Highway(sum(maps))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sum(maps), 1)
        with torch.no_grad():  # the paper code's initialisation
            nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
            for conv in self.convs:
                nn.init.trunc_normal_(conv.weight, std=0.1, a=-0.2, b=0.2)
                conv.bias.fill_(0.1)

    def forward(self, seqs: Tensor) -> Tensor:
        check_tokens("seqs", seqs)
        x = self.embedding(seqs).transpose(1, 2)  # [B, E, T]
        if x.shape[2] < max(self.widths):
            x = F.pad(x, (0, max(self.widths) - x.shape[2]))
        pooled = torch.cat([torch.relu(conv(x)).amax(dim=2) for conv in self.convs], dim=1)
        return self.out(self.dropout(self.highway(pooled))).squeeze(1)

    def l2_penalty(self) -> Tensor:
        """(||W_out||^2 + ||b_out||^2) / 2, as TensorFlow's l2_loss."""
        return 0.5 * (self.out.weight.square().sum() + self.out.bias.square().sum())
