"""BLEU-2..5 of generated text against a reference set, and self-BLEU, as
Texygen reports them for SeqGAN and its successors.

Each hypothesis is scored by nltk's ``sentence_bleu(references, hypothesis,
weights=(1/n,) * n, smoothing_function=SmoothingFunction().method1)`` with the
whole reference set as its references, and the scores are averaged. nltk
rescans every reference for every hypothesis (hours for 10,000 x 10,000);
here the reference set is summarised once and each hypothesis costs O(its
length), with the same arithmetic, so the scores agree with nltk's to
rounding (nltk is only needed by the tests).

The per-hypothesis rules reproduced (nltk 3.x):
- order-n precision p_n = sum over the hypothesis's distinct n-grams g of
  min(count of g in it, max over references r of count of g in r), divided
  by max(1, number of n-grams in it). A hypothesis shorter than n has no
  n-grams: p_n = 0 / 1.
- a zero numerator becomes 0.1 (method1): p_n = 0.1 / denominator. But no
  unigram match at all (an empty hypothesis included) makes the score 0.
- brevity penalty with r = the reference length closest to the hypothesis
  length c (ties: the shorter): 1 if c > r, else exp(1 - r / c).
- BLEU-n = penalty * exp(sum_{k=1..n} log(p_k) / n).
"""
import math
from bisect import bisect_left
from collections import Counter

import numpy as np

_EPSILON = 0.1  # nltk SmoothingFunction's default epsilon for method1


def _ngrams(tokens, n: int) -> Counter:
    """Counts of the n-grams (tuples) of a token sequence; empty when len < n."""
    return Counter(zip(*(tokens[i:] for i in range(n))))


def _check_sentences(name: str, sentences, minimum: int) -> None:
    if not isinstance(sentences, (list, tuple)) or len(sentences) < minimum:
        got = f"{len(sentences)} sentences" if isinstance(sentences, (list, tuple)) \
            else type(sentences).__name__
        raise ValueError(f"{name} must be a list of at least {minimum} token lists, got {got}")
    for i, s in enumerate(sentences):
        # A plain string would silently be scored on its characters.
        if isinstance(s, (str, bytes)) or not isinstance(s, (list, tuple)):
            raise ValueError(f"{name}[{i}] must be a list of tokens, got {type(s).__name__} "
                             f"{s!r:.40}; tokenize the text first")


def _check_max_n(max_n) -> None:
    if not isinstance(max_n, int) or isinstance(max_n, bool) or max_n < 2:
        raise ValueError(f"max_n must be an int >= 2 (BLEU-2..max_n), got {max_n!r}")


class _Lengths:
    """Reference lengths for nltk's closest-length rule, with one
    sentence's own length optionally left out (self-BLEU)."""

    def __init__(self, lengths):
        self.count = Counter(lengths)
        self.sorted = sorted(self.count)

    def closest(self, c: int, exclude: int | None = None) -> int:
        def present(length):
            return self.count[length] > (length == exclude)

        i = bisect_left(self.sorted, c)
        # The nearest present length at or above c, and below c; at most one
        # length (the excluded one) is absent, so each side skips at most once.
        above = next((x for x in self.sorted[i:i + 2] if present(x)), None)
        below = next((x for x in self.sorted[max(i - 2, 0):i][::-1] if present(x)), None)
        if above is None:
            return below
        if below is None or above - c < c - below:
            return above
        return below  # closer, or a tie, which nltk resolves to the shorter


def _score(hyp, max_n: int, clip, ref_len: int) -> list[float]:
    """nltk's smoothed sentence BLEU-2..max_n of one hypothesis, where
    clip(n, ngram) is the max count of ngram in any one reference."""
    c = len(hyp)
    logs = []
    for n in range(1, max_n + 1):
        numerator = sum(min(k, clip(n, g)) for g, k in _ngrams(hyp, n).items())
        if n == 1 and numerator == 0:
            return [0.0] * (max_n - 1)
        denominator = max(1, c - n + 1)
        logs.append(math.log(numerator / denominator if numerator else _EPSILON / denominator))
    penalty = 1.0 if c > ref_len else math.exp(1 - ref_len / c)
    return [penalty * math.exp(math.fsum((1.0 / n) * x for x in logs[:n]))
            for n in range(2, max_n + 1)]


def _mean(scores: list[list[float]], max_n: int) -> dict[int, float]:
    return {n: math.fsum(s[n - 2] for s in scores) / len(scores) for n in range(2, max_n + 1)}


def bleu(hypotheses: list[list[str]], references: list[list[str]],
         max_n: int = 5) -> dict[int, float]:
    """Mean smoothed sentence BLEU of each hypothesis against all references.

    Args:
        hypotheses: N >= 1 token lists (generated sentences); tokens are any
            hashable values (str, or int ids), compared with ==.
        references: M >= 1 token lists (e.g. the test split).
        max_n: highest n-gram order, >= 2 (BLEU-1, a unigram score, is not
            among the orders Texygen reports).

    Returns:
        {n: BLEU-n} for n = 2..max_n, each a float in [0, 1]: the mean over
        hypotheses of nltk's sentence BLEU with weights (1/n,) * n and
        smoothing method1, every reference a reference of every hypothesis.

    Time O(total tokens * max_n); memory O(distinct reference n-grams).
    """
    _check_sentences("hypotheses", hypotheses, 1)
    _check_sentences("references", references, 1)
    _check_max_n(max_n)
    # max_counts[n - 1][g] = the most times any single reference holds g.
    max_counts = [{} for _ in range(max_n)]
    for ref in references:
        for n, table in enumerate(max_counts, start=1):
            for g, k in _ngrams(ref, n).items():
                if k > table.get(g, 0):
                    table[g] = k
    lengths = _Lengths(len(r) for r in references)

    def clip(n, g):
        return max_counts[n - 1].get(g, 0)

    return _mean([_score(h, max_n, clip, lengths.closest(len(h))) for h in hypotheses], max_n)


def self_bleu(sentences: list[list[str]], max_n: int = 5, sample: int | None = None,
              seed: int = 0) -> dict[int, float]:
    """Self-BLEU: each sentence scored against all the others (a diversity
    measure; lower is more diverse).

    Args:
        sentences: N >= 2 token lists. A sentence is never its own reference;
            an identical sentence at another index is.
        max_n: highest n-gram order, >= 2.
        sample: score only this many sentences (1..N), drawn without
            replacement with ``numpy.random.default_rng(seed)``, each still
            against all N - 1 others; None scores all N.
        seed: seed of that draw.

    Returns:
        {n: self-BLEU-n} for n = 2..max_n, as ``bleu`` with the references of
        hypothesis i being ``sentences[:i] + sentences[i + 1:]``.

    Note that Texygen's fast mode instead scores the first 500 sentences
    against the other 499, which gives lower figures than using all N.
    """
    _check_sentences("sentences", sentences, 2)
    _check_max_n(max_n)
    if sample is None:
        chosen = range(len(sentences))
    elif not isinstance(sample, int) or isinstance(sample, bool) \
            or not 1 <= sample <= len(sentences):
        raise ValueError(f"sample must be None or an int in 1..{len(sentences)} "
                         f"(the number of sentences), got {sample!r}")
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(len(sentences), sample,
                                                            replace=False)).tolist()
    # top[n - 1][g] = [highest count of g in one sentence, the index of one
    # sentence holding it, highest count among the other sentences]: leaving
    # out sentence i then costs O(1) per n-gram.
    top = [{} for _ in range(max_n)]
    for i, s in enumerate(sentences):
        for n, table in enumerate(top, start=1):
            for g, k in _ngrams(s, n).items():
                entry = table.get(g)
                if entry is None:
                    table[g] = [k, i, 0]
                elif k > entry[0]:
                    entry[2], entry[0], entry[1] = entry[0], k, i
                elif k > entry[2]:
                    entry[2] = k
    lengths = _Lengths(len(s) for s in sentences)
    scores = [_score(sentences[i], max_n, _clip_without(top, i),
                     lengths.closest(len(sentences[i]), exclude=len(sentences[i])))
              for i in chosen]
    return _mean(scores, max_n)


def _clip_without(top: list[dict], i: int):
    """clip(n, ngram) over all sentences but the i-th, for sentence i's own n-grams."""
    def clip(n, g):
        first, holder, second = top[n - 1][g]  # sentence i put every n-gram of its own there
        return second if holder == i else first
    return clip
