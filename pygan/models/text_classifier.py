"""Sentence classifiers for adversarial text training (Miyato et al. 2017):
word embeddings normalised by word frequency, then a CNN (Kim 2014) or an
LSTM. The embedding and the rest are separate calls, so training can
perturb the embeddings in between."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENCODERS = ("cnn", "lstm")


def _check_positive(owner: str, name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def _check_ids(ids) -> None:
    if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype != torch.int64 \
            or ids.numel() == 0:
        got = f"{ids.dtype} {list(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"TextClassifier expects non-empty int64 token ids [B, T], got {got}")


class NormalizedEmbedding(nn.Module):
    """token ids [B, T] int64 -> embeddings [B, T, dim] (the weight's dtype
    and device).

    With ``frequencies`` ([vocab_size] counts or probabilities, >= 0, not all
    zero), every dimension is normalised with statistics weighted by word
    frequency f_j (Miyato et al. 2017): v' = (v - E_f[v]) / sqrt(Var_f[v] + 1e-6).
    Otherwise the raw rows. The weight starts U[-0.25, 0.25] as in Kim's
    CNN-rand; under the normalisation its scale sets only how fast Adam moves
    the words relative to one another (small = fast). The frequencies are a
    buffer (saved with the weights)."""

    def __init__(self, vocab_size: int, dim: int, frequencies: Tensor | None = None):
        super().__init__()
        _check_positive("NormalizedEmbedding", "vocab_size", vocab_size)
        _check_positive("NormalizedEmbedding", "dim", dim)
        self.weight = nn.Parameter(torch.empty(vocab_size, dim).uniform_(-0.25, 0.25))
        if frequencies is not None:
            f = torch.as_tensor(frequencies, dtype=torch.float32)
            if f.shape != (vocab_size,) or (f < 0).any() or not f.sum() > 0:
                raise ValueError(f"NormalizedEmbedding: frequencies must be [{vocab_size}] "
                                 f"non-negative and not all zero, got {list(f.shape)}")
            f = f / f.sum()
        self.register_buffer("frequencies", f if frequencies is not None else None)

    def forward(self, ids: Tensor) -> Tensor:
        rows = F.embedding(ids, self.weight)
        if self.frequencies is None:
            return rows
        f = self.frequencies.to(self.weight.dtype)
        mean = f @ self.weight
        var = f @ (self.weight - mean).square()
        return (rows - mean) / (var + 1e-6).sqrt()


class TextClassifier(nn.Module):
    """token ids [B, T] int64 (``pad_id`` after each sentence) -> logits
    [B, num_classes], via ``embed(ids) -> [B, T, E]`` and
    ``classify(embedded, mask) -> logits``; pad positions are zeroed before
    the encoder, so nothing (a perturbation included) acts through them.

    ``encoder``:
    - "cnn" (Kim 2014): for each width in ``widths``, ``maps`` 1-D
      convolutions over the embeddings (zero-padded by width - 1 on both
      sides), ReLU, max over time; concatenated, dropout, linear.
    - "lstm": one LSTM layer of ``hidden`` units over the sentence (packed
      by length), its last state, dropout, linear.
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, embed_dim: int = 300,
                 encoder: str = "cnn", widths: tuple[int, ...] = (3, 4, 5), maps: int = 100,
                 hidden: int = 512, dropout: float = 0.5, frequencies: Tensor | None = None,
                 pad_id: int = 0):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"TextClassifier: encoder must be one of {ENCODERS}, got {encoder!r}")
        for name, value in (("num_classes", num_classes), ("maps", maps), ("hidden", hidden)):
            _check_positive("TextClassifier", name, value)
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"TextClassifier: widths must be positive ints, got {widths!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"TextClassifier: dropout must be in [0, 1), got {dropout}")
        self.pad_id, self.encoder = pad_id, encoder
        self.embedding = NormalizedEmbedding(vocab_size, embed_dim, frequencies)
        if encoder == "cnn":
            self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w, padding=w - 1)
                                       for w in widths)
            width = maps * len(widths)
        else:
            self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
            width = hidden
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, num_classes)

    def mask(self, ids: Tensor) -> Tensor:
        """[B, T] bool: True at tokens, False at padding."""
        _check_ids(ids)
        return ids != self.pad_id

    def trim(self, ids: Tensor) -> Tensor:
        """ids [B, T] without the columns after the longest sentence (padding
        only): the logits do not change, the work shrinks."""
        return ids[:, :max(1, int(self.mask(ids).sum(1).max()))]

    def embed(self, ids: Tensor) -> Tensor:
        """ids [B, T] int64 -> [B, T, E] (normalised) embeddings."""
        _check_ids(ids)
        return self.embedding(ids)

    def classify(self, embedded: Tensor, mask: Tensor) -> Tensor:
        """embedded [B, T, E] float, mask [B, T] bool (same device) -> [B, K]."""
        if embedded.dim() != 3 or mask.shape != embedded.shape[:2]:
            raise ValueError(f"classify: embedded must be [B, T, E] and mask [B, T], got "
                             f"{list(embedded.shape)} and {list(mask.shape)}")
        x = embedded * mask.unsqueeze(2).to(embedded.dtype)
        if self.encoder == "cnn":
            x = x.transpose(1, 2)
            h = torch.cat([F.relu(conv(x)).amax(2) for conv in self.convs], 1)
        else:
            lengths = mask.sum(1).clamp_min(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                       enforce_sorted=False)
            h = self.lstm(packed)[1][0][-1]
        return self.out(self.dropout(h))

    def forward(self, ids: Tensor) -> Tensor:
        ids = self.trim(ids)
        return self.classify(self.embed(ids), self.mask(ids))
