"""The oracle LSTM of SeqGAN's synthetic experiment: a fixed random LSTM
whose samples are the training data and whose likelihood scores a
generator's samples (NLL-oracle)."""
import os
from pathlib import Path

import numpy as np
import torch

from .seqgan import LSTMGenerator

GATES = ("i", "f", "c", "o")  # torch.nn.LSTM's row blocks: i, f, g (= the cell candidate c~), o


def _expected_shapes(vocab_size: int, emb_dim: int, hidden_dim: int) -> dict[str, tuple]:
    shapes = {"embedding": (vocab_size, emb_dim)}
    for g in GATES:
        shapes.update({f"W_{g}": (emb_dim, hidden_dim), f"U_{g}": (hidden_dim, hidden_dim),
                       f"b_{g}": (hidden_dim,)})
    shapes.update({"W_out": (hidden_dim, vocab_size), "b_out": (vocab_size,)})
    return shapes


class OracleLSTM(LSTMGenerator):
    """The oracle: an :class:`LSTMGenerator` (start token 0, no EOS: all
    ``seq_len`` tokens are real) whose weights come from named arrays in the
    row-vector convention of ../shared/data/README.md: ``embedding`` [V, E];
    ``W_g`` [E, H], ``U_g`` [H, H], ``b_g`` [H] for the gates g in i, f, o, c;
    ``W_out`` [H, V], ``b_out`` [V]. Those equations are torch's LSTM with
    ``weight_ih`` = [W_i W_f W_c W_o]^T, ``weight_hh`` = [U_i U_f U_c U_o]^T,
    ``bias_ih`` = the b's, ``bias_hh`` = 0.

    Build it with :meth:`from_npz`, :meth:`random` or :meth:`from_source`;
    ``source`` records which (a JSON-able dict, kept in checkpoints).
    Its parameters do not train (requires_grad is False).
    """

    def __init__(self, arrays: dict[str, np.ndarray], seq_len: int, source: dict):
        embedding = arrays["embedding"]
        super().__init__(embedding.shape[0], embedding.shape[1], arrays["U_i"].shape[0], seq_len,
                         start_token=0)
        t = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
        with torch.no_grad():
            self.embedding.weight.copy_(t["embedding"])
            self.lstm.weight_ih_l0.copy_(torch.cat([t[f"W_{g}"] for g in GATES], 1).T)
            self.lstm.weight_hh_l0.copy_(torch.cat([t[f"U_{g}"] for g in GATES], 1).T)
            self.lstm.bias_ih_l0.copy_(torch.cat([t[f"b_{g}"] for g in GATES]))
            self.lstm.bias_hh_l0.zero_()
            self.out.weight.copy_(t["W_out"].T)
            self.out.bias.copy_(t["b_out"])
        self.requires_grad_(False)
        self.source = dict(source)

    @classmethod
    def from_npz(cls, path: str | os.PathLike, seq_len: int = 20) -> "OracleLSTM":
        """The oracle whose arrays are in the .npz file ``path`` (e.g.
        ../shared/data/seqgan_oracle_lstm.npz). Raises FileNotFoundError for
        a missing file and ValueError naming the file for an unreadable one
        or a missing / misshapen array."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no oracle parameter file at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile, zlib and numpy raise several types on torn files
            raise ValueError(f"{path} is not a readable .npz file (truncated or corrupt?): "
                             f"{type(exc).__name__}: {exc}") from None
        for name, array in arrays.items():
            if array.dtype.kind not in "fiu":  # float, signed or unsigned int
                raise ValueError(f"{path}: array {name!r} holds {array.dtype} values; an oracle's "
                                 f"arrays are numbers (float32 or float64)")
        for name in ("embedding", "U_i"):
            if name not in arrays:
                raise ValueError(f"{path}: missing array {name!r}; an oracle file holds "
                                 f"{sorted(_expected_shapes(1, 1, 1))}")
            if arrays[name].ndim != 2:
                raise ValueError(f"{path}: array {name!r} must be 2-D, got shape "
                                 f"{list(arrays[name].shape)}")
        (vocab_size, emb_dim), hidden_dim = arrays["embedding"].shape, arrays["U_i"].shape[0]
        for name, shape in _expected_shapes(vocab_size, emb_dim, hidden_dim).items():
            if name not in arrays:
                raise ValueError(f"{path}: missing array {name!r} (expected shape {list(shape)})")
            if arrays[name].shape != shape:
                raise ValueError(f"{path}: array {name!r} has shape {list(arrays[name].shape)}, "
                                 f"expected {list(shape)} (vocab {vocab_size}, embedding "
                                 f"{emb_dim}, hidden {hidden_dim})")
            if not np.isfinite(arrays[name]).all():
                raise ValueError(f"{path}: array {name!r} holds NaN or infinite values")
        source = {"params": str(path.resolve()), "seed": None, "vocab_size": vocab_size,
                  "emb_dim": emb_dim, "hidden_dim": hidden_dim, "seq_len": seq_len}
        return cls(arrays, seq_len, source)

    @classmethod
    def random(cls, vocab_size: int = 5000, emb_dim: int = 32, hidden_dim: int = 32,
               seq_len: int = 20, seed: int = 0) -> "OracleLSTM":
        """A random oracle as the paper's code draws one: every array from
        N(0, 1), from a generator seeded with ``seed``."""
        for name, value in (("vocab_size", vocab_size), ("emb_dim", emb_dim),
                            ("hidden_dim", hidden_dim), ("seq_len", seq_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"OracleLSTM.random: {name} must be a positive int, got {value!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"OracleLSTM.random: seed must be an int >= 0, got {seed!r}")
        gen = torch.Generator().manual_seed(seed)
        arrays = {name: torch.randn(shape, generator=gen).numpy()
                  for name, shape in _expected_shapes(vocab_size, emb_dim, hidden_dim).items()}
        source = {"params": None, "seed": seed, "vocab_size": vocab_size, "emb_dim": emb_dim,
                  "hidden_dim": hidden_dim, "seq_len": seq_len}
        return cls(arrays, seq_len, source)

    @classmethod
    def from_source(cls, source: dict) -> "OracleLSTM":
        """The oracle a ``source`` dict (an oracle's ``source``) describes."""
        keys = {"params", "seed", "vocab_size", "emb_dim", "hidden_dim", "seq_len"}
        if not isinstance(source, dict) or set(source) != keys:
            raise ValueError(f"oracle source must be a dict with keys {sorted(keys)}, "
                             f"got {source!r:.200}")
        if source["params"] is None:
            return cls.random(source["vocab_size"], source["emb_dim"], source["hidden_dim"],
                              source["seq_len"], source["seed"])
        oracle = cls.from_npz(source["params"], source["seq_len"])
        if oracle.source != source:
            raise ValueError(f"{source['params']} no longer holds the oracle recorded "
                             f"({oracle.source} != {source})")
        return oracle

    def generate(self, n: int, seed: int = 0, chunk: int = 2500) -> torch.Tensor:
        """n oracle sequences int64 [n, seq_len] on the CPU, reproducible
        from ``seed`` (``chunk`` sequences are sampled at a time)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"generate: n must be a positive int, got {n!r}")
        device = self.out.weight.device
        gen = torch.Generator(device).manual_seed(seed)
        return torch.cat([self.sample(min(chunk, n - i), generator=gen).cpu()
                          for i in range(0, n, chunk)])
