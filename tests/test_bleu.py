"""pygan.metrics.bleu against nltk's sentence_bleu with smoothing method1
(the Texygen definition), on small corpora over a few words so that n-grams
repeat, clip and tie; self-BLEU against a brute-force leave-one-out loop."""
import math
import random

import numpy as np
import pytest

from pygan.metrics import bleu, self_bleu

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

ORDERS = range(2, 6)
WEIGHTS = [tuple([1.0 / n] * n) for n in ORDERS]


def nltk_scores(references, hypothesis):
    """{n: nltk BLEU-n} of one hypothesis, the Texygen way."""
    method1 = nltk_bleu.SmoothingFunction().method1
    scores = nltk_bleu.sentence_bleu(references, hypothesis, WEIGHTS, smoothing_function=method1)
    return dict(zip(ORDERS, scores))


def nltk_mean(hypotheses, references_of):
    per_hyp = [nltk_scores(references_of(i), h) for i, h in enumerate(hypotheses)]
    return {n: math.fsum(s[n] for s in per_hyp) / len(per_hyp) for n in ORDERS}


def corpus(rng, count, words="abcde", max_len=9):
    # Lengths from 0 (empty) and 1 (no bigrams) up, over 5 words: n-grams repeat.
    return [[rng.choice(words) for _ in range(rng.randint(0, max_len))] for _ in range(count)]


def assert_scores(got, want):
    assert sorted(got) == sorted(want)
    for n in want:
        assert got[n] == pytest.approx(want[n], abs=1e-9, rel=0), n


@pytest.mark.parametrize("seed", range(6))
def test_bleu_matches_nltk_sentence_by_sentence(seed):
    rng = random.Random(seed)
    references = corpus(rng, 30)
    references += [list(r) for r in references[:4]]  # duplicate references
    hypotheses = corpus(rng, 20) + [list(references[5]), list(references[6])]
    for h in hypotheses:
        assert_scores(bleu([h], references), nltk_scores(references, h))
    assert_scores(bleu(hypotheses, references), nltk_mean(hypotheses, lambda i: references))


@pytest.mark.parametrize("seed", range(4))
def test_self_bleu_matches_a_leave_one_out_nltk_loop(seed):
    rng = random.Random(100 + seed)
    sentences = corpus(rng, 30)
    sentences += [list(s) for s in sentences[:5]]  # duplicates are each other's references
    rng.shuffle(sentences)
    want = nltk_mean(sentences, lambda i: sentences[:i] + sentences[i + 1:])
    assert_scores(self_bleu(sentences), want)


def test_self_bleu_sample_scores_the_drawn_sentences_against_all_others():
    sentences = corpus(random.Random(7), 25)
    chosen = np.sort(np.random.default_rng(3).choice(25, 6, replace=False)).tolist()
    per_hyp = [nltk_scores(sentences[:i] + sentences[i + 1:], sentences[i]) for i in chosen]
    want = {n: math.fsum(s[n] for s in per_hyp) / len(per_hyp) for n in ORDERS}
    assert_scores(self_bleu(sentences, sample=6, seed=3), want)
    assert self_bleu(sentences, sample=6, seed=3) == self_bleu(sentences, sample=6, seed=3)
    assert self_bleu(sentences, sample=25, seed=9) == pytest.approx(self_bleu(sentences))


def test_a_duplicate_elsewhere_is_a_reference_but_a_sentence_never_is_its_own():
    a, b = "a man rides a horse".split(), "two dogs play in the snow".split()
    assert self_bleu([a, a]) == {n: 1.0 for n in ORDERS}
    assert self_bleu([a, b])[2] < 0.1
    assert_scores(self_bleu([a, a, b]), {n: (2 + nltk_scores([a, a], b)[n]) / 3 for n in ORDERS})


def test_edge_cases_match_nltk():
    ref = "the cat sat on the mat".split()
    cases = [
        ([], [ref]),                              # empty hypothesis: 0
        (["dog"], [ref]),                         # no unigram match: 0
        (["the"], [ref]),                         # no bigrams at all: p2.. = 0.1 / 1
        (["the", "cat"], [ref]),                  # shorter than 3: p3.. = 0.1 / 1
        ("the the the the".split(), [ref]),       # clipped to the reference count
        (ref, [ref]),                             # identical: 1
        ("the cat sat on".split(), [ref[:3], ref[:5]]),  # lengths 3 and 5 tie: the shorter
        ("the cat sat on the mat again and again".split(), [ref, ["x"]]),  # longer: no penalty
        ("the cat".split(), [[], ref]),           # an empty reference
    ]
    for hyp, refs in cases:
        assert_scores(bleu([hyp], refs), nltk_scores(refs, hyp))
    assert bleu([ref], [ref]) == {n: 1.0 for n in ORDERS}
    assert bleu([[]], [ref]) == {n: 0.0 for n in ORDERS}


def test_tokens_may_be_ids_and_max_n_picks_the_orders():
    rng = random.Random(11)
    refs = [[rng.randrange(4) for _ in range(rng.randint(1, 8))] for _ in range(15)]
    hyps = [[rng.randrange(4) for _ in range(rng.randint(1, 8))] for _ in range(10)]
    words = [[str(t) for t in s] for s in refs], [[str(t) for t in s] for s in hyps]
    assert bleu(hyps, refs) == bleu(words[1], words[0])
    assert list(bleu(hyps, refs, max_n=2)) == [2]
    assert list(self_bleu(refs, max_n=7)) == [2, 3, 4, 5, 6, 7]
    assert bleu(hyps, refs, max_n=3) == {n: s for n, s in bleu(hyps, refs).items() if n <= 3}


@pytest.mark.parametrize("call, message", [
    (lambda: bleu([], [["a"]]), r"hypotheses must be a list of at least 1 token lists, got 0"),
    (lambda: bleu([["a"]], []), r"references must be a list of at least 1 token lists, got 0"),
    (lambda: bleu([["a"]], "a b"), r"references must be a list .* got str"),
    (lambda: bleu(["a cat"], [["a"]]), r"hypotheses\[0\] must be a list of tokens, got str"),
    (lambda: bleu([["a"]], [["a"]], max_n=1), r"max_n must be an int >= 2 .*, got 1"),
    (lambda: self_bleu([["a"]]), r"sentences must be a list of at least 2 token lists, got 1"),
    (lambda: self_bleu([["a"], ["b"]], max_n=2.0), r"max_n must be an int >= 2 .*, got 2.0"),
    (lambda: self_bleu([["a"], ["b"]], sample=3), r"sample must be None or an int in 1..2"),
    (lambda: self_bleu([["a"], ["b"]], sample=0), r"sample must be None or an int in 1..2"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
