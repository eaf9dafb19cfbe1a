"""Text corpora for the sequence families: one sentence a line, word or
character tokens, a frequency-ordered vocabulary, and fixed-length id rows.

A sentence of L tokens becomes the row ``ids..., EOS, PAD...`` of ``max_len``
ids; ``BOS`` is never stored, it is the generator's start token. Sentences
longer than ``max_len`` are cut to ``max_len`` tokens (no EOS) and counted.
"""
from collections import Counter
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from torch import Tensor

LEVELS = ("word", "char")


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


class Vocab:
    """Token <-> id mapping with four special tokens at fixed ids.

    Ids 0..3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` (the class
    attributes PAD, BOS, EOS, UNK); corpus tokens follow by descending
    frequency, ties in alphabetical order, so a corpus always gives the same
    vocabulary.

    Attributes:
        itos: id -> token, ``len(self)`` strings.
        stoi: token -> id.
    """

    PAD, BOS, EOS, UNK = 0, 1, 2, 3
    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, itos: list[str]):
        itos = list(itos)
        if tuple(itos[:len(self.SPECIALS)]) != self.SPECIALS:
            raise ValueError(f"Vocab: itos must start with the special tokens {self.SPECIALS}, "
                             f"got {itos[:len(self.SPECIALS)]}")
        if not all(isinstance(t, str) for t in itos):
            bad = next(t for t in itos if not isinstance(t, str))
            raise ValueError(f"Vocab: itos must hold strings, got {type(bad).__name__} {bad!r}")
        self.itos = itos
        self.stoi = {t: i for i, t in enumerate(itos)}
        if len(self.stoi) != len(itos):
            dup = next(t for t, k in Counter(itos).items() if k > 1)
            raise ValueError(f"Vocab: itos holds the token {dup!r} more than once")

    @classmethod
    def build(cls, sentences: list[list[str]], max_size: int | None = None,
              min_count: int = 1) -> "Vocab":
        """The vocabulary of tokenized sentences.

        Args:
            sentences: token lists.
            max_size: most entries, the 4 specials included (>= 5), or None for
                no cap; the rarest tokens are left out (they encode to UNK).
            min_count: tokens seen fewer times are left out (>= 1).

        A corpus token spelled like a special (e.g. ``<unk>`` in a
        preprocessed corpus) maps to that special's id rather than getting its own.
        """
        if max_size is not None:
            _check_int("max_size", max_size, len(cls.SPECIALS) + 1)
        _check_int("min_count", min_count, 1)
        counts = Counter(t for s in sentences for t in s)
        for special in cls.SPECIALS:
            counts.pop(special, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_count),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max_size - len(cls.SPECIALS)]
        return cls(list(cls.SPECIALS) + ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def encode(self, tokens: list[str]) -> list[int]:
        """Token ids; tokens not in the vocabulary become UNK."""
        return [self.stoi.get(t, self.UNK) for t in tokens]

    def decode(self, ids) -> list[str]:
        """Tokens of a list of ids or a 1-D integer tensor, up to (not
        including) the first EOS or PAD; BOS is skipped, UNK gives ``<unk>``."""
        if isinstance(ids, Tensor):
            if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex():
                raise ValueError(f"decode: ids must be a 1-D integer tensor, "
                                 f"got {ids.dtype} {list(ids.shape)}")
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if i == self.EOS or i == self.PAD:
                break
            if not 0 <= i < len(self.itos):
                raise ValueError(f"decode: id {i} is outside the vocabulary 0..{len(self) - 1}")
            if i != self.BOS:
                tokens.append(self.itos[i])
        return tokens

    def state_dict(self) -> dict:
        """Plain lists, for checkpoints: ``{"itos": [...]}``."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Vocab":
        if not isinstance(state, dict) or "itos" not in state:
            raise ValueError(f"Vocab.from_state_dict: state must be a dict with key 'itos', "
                             f"got {type(state).__name__}")
        return cls(state["itos"])


def tokenize(line: str, level: str = "word") -> list[str]:
    """Splits a line into tokens: ``"word"`` on whitespace, ``"char"`` into
    every non-whitespace character (so spaced and unspaced Chinese give the same)."""
    if level == "word":
        return line.split()
    if level == "char":
        return [c for c in line if not c.isspace()]
    raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


def read_sentences(path: str | PathLike, level: str = "word") -> tuple[list[list[str]], int]:
    """Tokenized lines of a UTF-8 text file, one sentence a line.

    Returns:
        (sentences, skipped_empty): the token lists of the non-empty lines, in
        file order, and the number of empty or whitespace-only lines skipped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad ``level``; bytes that are not UTF-8 (naming the line);
            no non-empty line ("empty corpus").
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such text file")
    sentences, skipped = [], 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                # utf-8-sig on the first line drops a byte-order mark some editors write.
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: line {number} is not valid UTF-8 ({exc})") from exc
            tokens = tokenize(line, level)
            if tokens:
                sentences.append(tokens)
            else:
                skipped += 1
    if not sentences:
        raise ValueError(f"{path}: empty corpus (no non-empty line)")
    return sentences, skipped


def encode_sentences(sentences: list[list[str]], vocab: Vocab,
                     max_len: int) -> tuple[Tensor, Tensor, int]:
    """Fixed-length id rows of tokenized sentences.

    Returns:
        tokens: int64 [N, max_len]: each sentence's ids, then EOS if it fits,
            then PAD. A sentence longer than max_len is cut to max_len tokens.
        lengths: int64 [N], the ids before padding (EOS included).
        truncated: how many sentences were cut.
    """
    _check_int("max_len", max_len, 1)
    if not isinstance(vocab, Vocab):
        raise ValueError(f"vocab must be a Vocab, got {type(vocab).__name__}")
    rows, lengths, truncated = [], [], 0
    for sentence in sentences:
        ids = vocab.encode(sentence)
        if len(ids) > max_len:
            ids, truncated = ids[:max_len], truncated + 1
        elif len(ids) < max_len:
            ids.append(Vocab.EOS)
        lengths.append(len(ids))
        rows.append(ids + [Vocab.PAD] * (max_len - len(ids)))
    tokens = torch.tensor(rows, dtype=torch.int64).reshape(len(rows), max_len)
    return tokens, torch.tensor(lengths, dtype=torch.int64), truncated


@dataclass
class TextSet:
    """An encoded corpus.

    Attributes:
        tokens: int64 [N, max_len] CPU tensor; row = ids, EOS if it fits, PAD.
        lengths: int64 [N], ids before padding (EOS included), 1..max_len.
        vocab: the Vocab the ids refer to.
        skipped_empty: empty or whitespace-only lines left out of the file.
        truncated: sentences longer than max_len, cut to max_len tokens.
    """

    tokens: Tensor
    lengths: Tensor
    vocab: Vocab
    skipped_empty: int = 0
    truncated: int = 0

    def __post_init__(self):
        if not isinstance(self.tokens, Tensor) or self.tokens.dim() != 2 \
                or self.tokens.dtype != torch.int64:
            raise ValueError(f"TextSet: tokens must be int64 [N, max_len], "
                             f"got {_describe(self.tokens)}")
        if not isinstance(self.lengths, Tensor) or self.lengths.dtype != torch.int64 \
                or self.lengths.shape != self.tokens.shape[:1]:
            raise ValueError(f"TextSet: lengths must be int64 [{len(self.tokens)}], "
                             f"got {_describe(self.lengths)}")
        if not isinstance(self.vocab, Vocab):
            raise ValueError(f"TextSet: vocab must be a Vocab, got {type(self.vocab).__name__}")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def max_len(self) -> int:
        return self.tokens.shape[1]

    def sentences(self) -> list[list[str]]:
        """The rows decoded back to tokens (rare tokens read ``<unk>``)."""
        return [self.vocab.decode(row) for row in self.tokens.tolist()]


def load_text(path: str | PathLike, level: str = "word", max_len: int = 20,
              vocab_size: int | None = 5000, vocab: Vocab | None = None,
              min_count: int = 1) -> TextSet:
    """Reads and encodes a text file, one sentence a line (see ``read_sentences``).

    Args:
        path: a UTF-8 text file.
        level: ``"word"`` (whitespace tokens) or ``"char"`` (characters).
        max_len: row length (>= 1). A sentence of more than max_len tokens is
            truncated to its first max_len tokens, without EOS, and counted in
            ``TextSet.truncated``; one of exactly max_len tokens keeps all of
            them and gets no EOS either.
        vocab_size: most vocabulary entries, specials included (>= 5), or None;
            ignored when ``vocab`` is given.
        vocab: an existing vocabulary (a test split must reuse the training
            split's); built from this file when None.
        min_count: a token needs this many occurrences to enter a built
            vocabulary; ignored when ``vocab`` is given.

    Raises:
        FileNotFoundError / ValueError: as ``read_sentences``, or naming a bad argument.
    """
    _check_int("max_len", max_len, 1)
    if vocab is None:
        if vocab_size is not None:
            _check_int("vocab_size", vocab_size, len(Vocab.SPECIALS) + 1)
        _check_int("min_count", min_count, 1)
    elif not isinstance(vocab, Vocab):
        raise ValueError(f"vocab must be a Vocab or None, got {type(vocab).__name__}")
    sentences, skipped = read_sentences(path, level)
    if vocab is None:
        vocab = Vocab.build(sentences, max_size=vocab_size, min_count=min_count)
    tokens, lengths, truncated = encode_sentences(sentences, vocab, max_len)
    return TextSet(tokens, lengths, vocab, skipped_empty=skipped, truncated=truncated)
