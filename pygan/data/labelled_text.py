"""Sentence classification data: one text file per class (e.g. rt-polarity's
.neg and .pos), split into training and test sentences, encoded with a
vocabulary of the training sentences."""
from os import PathLike

import torch

from .semi_supervised import LabelledSplit
from .text import Vocab, encode_sentences, read_sentences


def load_labelled_text(class_files: list, test_fraction: float = 0.1, seed: int = 0,
                       max_len: int = 64, min_count: int = 1,
                       unlabelled_file: str | PathLike | None = None
                       ) -> tuple[LabelledSplit, Vocab]:
    """Reads one UTF-8 file per class (one sentence a line, whitespace
    tokens; class k is ``class_files[k]``), holds out a random
    ``test_fraction`` of all sentences and encodes them.

    Args:
        class_files: two or more paths.
        test_fraction: in [0, 1); 0 gives no test set. The held-out sentences
            are drawn from a permutation seeded by ``seed``.
        max_len: ids per row (rows end with EOS when it fits, then PAD = 0).
        min_count: training occurrences a word needs to enter the vocabulary;
            others (and test words never seen in training) encode to UNK.
        unlabelled_file: optional sentences without labels (they join the
            vocabulary and the word counts, and VAT uses them).

    Returns:
        (LabelledSplit with int64 ids [N, max_len], labels [N], unlabelled
        [U, max_len], the test set and vocab_size, the Vocab).

    Raises:
        FileNotFoundError: a missing file. ValueError: fewer than two files,
        an empty file (naming it), a test_fraction that leaves no training
        or no test sentence, bad arguments.
    """
    if not isinstance(class_files, (list, tuple)) or len(class_files) < 2:
        raise ValueError(f"load_labelled_text: class_files must list one file per class, at "
                         f"least 2 (a classifier needs two classes), got {class_files!r}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"load_labelled_text: test_fraction must be in [0, 1), "
                         f"got {test_fraction!r}")
    per_class = [read_sentences(path)[0] for path in class_files]
    sentences = [s for group in per_class for s in group]
    labels = torch.cat([torch.full((len(g),), k, dtype=torch.int64)
                        for k, g in enumerate(per_class)])
    perm = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(sentences))
    if test_fraction > 0 and not 0 < n_test < len(sentences):
        raise ValueError(f"load_labelled_text: test_fraction={test_fraction} of "
                         f"{len(sentences)} sentences leaves {n_test} for testing")
    train_idx, test_idx = perm[n_test:], perm[:n_test]
    train = [sentences[i] for i in train_idx.tolist()]
    unlabelled = read_sentences(unlabelled_file)[0] if unlabelled_file is not None else []
    vocab = Vocab.build(train + unlabelled, min_count=min_count)

    def encode(group):
        return encode_sentences(group, vocab, max_len)[0]

    test = ((encode([sentences[i] for i in test_idx.tolist()]), labels[test_idx])
            if n_test else (None, None))
    split = LabelledSplit(encode(train), labels[train_idx],
                          encode(unlabelled) if unlabelled else torch.zeros(0, max_len,
                                                                            dtype=torch.int64),
                          len(class_files), *test, vocab_size=len(vocab))
    return split, vocab
