"""pygan.data.text: vocabulary order and specials, tokenization levels,
fixed-length encoding with EOS/PAD and truncation, file reading errors."""
from pathlib import Path

import pytest
import torch

from pygan.data import (TextSet, Vocab, encode_sentences, load_text, read_sentences,
                        tokenize)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COCO = SHARED / "coco_captions"


def write(tmp_path, text, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------- Vocab


def test_specials_take_the_first_ids_then_tokens_by_frequency_then_alphabet():
    v = Vocab.build([["b", "a", "c", "a"], ["c", "d", "a"], ["b"]])
    assert (Vocab.PAD, Vocab.BOS, Vocab.EOS, Vocab.UNK) == (0, 1, 2, 3)
    assert v.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d"]
    assert all(v.stoi[t] == i for i, t in enumerate(v.itos)) and len(v) == 8


def test_max_size_counts_the_specials_and_drops_the_rarest():
    sentences = [["x"] * 5 + ["y"] * 3 + ["z"] * 3 + ["w"]]
    assert Vocab.build(sentences, max_size=6).itos[4:] == ["x", "y"]
    assert Vocab.build(sentences, max_size=100).itos[4:] == ["x", "y", "z", "w"]
    assert Vocab.build(sentences, min_count=3).itos[4:] == ["x", "y", "z"]


def test_unknown_tokens_encode_to_unk_and_a_corpus_special_keeps_its_id():
    v = Vocab.build([["a", "b", "<unk>", "<eos>"]])
    assert v.itos[4:] == ["a", "b"]
    assert v.encode(["b", "never", "<unk>", "a"]) == [5, Vocab.UNK, Vocab.UNK, 4]


def test_decode_skips_bos_and_stops_at_the_first_eos_or_pad():
    v = Vocab.build([["a", "b"]])
    assert v.decode([Vocab.BOS, 4, 5, Vocab.EOS, 4]) == ["a", "b"]
    assert v.decode(torch.tensor([5, Vocab.UNK, Vocab.PAD, 4])) == ["b", "<unk>"]
    assert v.decode([]) == []
    with pytest.raises(ValueError, match="id 9 is outside the vocabulary 0..5"):
        v.decode([4, 9])
    with pytest.raises(ValueError, match="ids must be a 1-D integer tensor"):
        v.decode(torch.zeros(2, 2, dtype=torch.int64))


def test_state_dict_round_trip_and_bad_states():
    v = Vocab.build([["a", "b", "b"]])
    state = v.state_dict()
    assert state == {"itos": ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a"]}
    assert Vocab.from_state_dict(state) == v
    with pytest.raises(ValueError, match="must start with the special tokens"):
        Vocab.from_state_dict({"itos": ["a", "b"]})
    with pytest.raises(ValueError, match="'b' more than once"):
        Vocab.from_state_dict({"itos": list(Vocab.SPECIALS) + ["b", "b"]})
    with pytest.raises(ValueError, match="key 'itos'"):
        Vocab.from_state_dict(["a"])


@pytest.mark.parametrize("kwargs, name", [({"max_size": 4}, "max_size"),
                                          ({"max_size": 2.5}, "max_size"),
                                          ({"min_count": 0}, "min_count"),
                                          ({"min_count": True}, "min_count")])
def test_build_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be an int >= "):
        Vocab.build([["a"]], **kwargs)


# ---------------------------------------------------------------- tokenize and encode


def test_word_and_char_levels():
    assert tokenize("  a cat\tsat \r\n", "word") == ["a", "cat", "sat"]
    assert tokenize("a cat\n", "char") == ["a", "c", "a", "t"]
    # The poem corpus separates characters by spaces; unspaced text must split the same.
    assert tokenize("秦 川 雄 帝 宅 ，", "char") == tokenize("秦川雄帝宅，", "char") \
        == ["秦", "川", "雄", "帝", "宅", "，"]
    assert tokenize("秦川雄帝宅", "word") == ["秦川雄帝宅"]
    with pytest.raises(ValueError, match="level must be one of word, char, got 'byte'"):
        tokenize("a", "byte")


def test_rows_get_eos_then_pad_and_long_sentences_are_truncated_and_counted():
    v = Vocab.build([["a", "b", "c"]])
    sentences = [["a"], ["a", "b", "c"], ["a", "b", "c", "a", "b"], [], ["a", "zz"]]
    tokens, lengths, truncated = encode_sentences(sentences, v, max_len=3)
    a, b, c = v.encode(["a", "b", "c"])
    E, P, U = Vocab.EOS, Vocab.PAD, Vocab.UNK
    assert tokens.dtype == torch.int64 and lengths.dtype == torch.int64
    assert tokens.tolist() == [[a, E, P], [a, b, c], [a, b, c], [E, P, P], [a, U, E]]
    assert lengths.tolist() == [2, 3, 3, 1, 3]
    assert truncated == 1
    empty, no_lengths, none = encode_sentences([], v, max_len=4)
    assert empty.shape == (0, 4) and no_lengths.shape == (0,) and none == 0
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        encode_sentences(sentences, v, max_len=0)
    with pytest.raises(ValueError, match="vocab must be a Vocab, got dict"):
        encode_sentences(sentences, {"a": 4}, max_len=3)


def test_encode_decode_round_trip():
    sentences = [s.split() for s in ["a man rides a horse", "two dogs", "a red bus on a road"]]
    v = Vocab.build(sentences)
    tokens, lengths, _ = encode_sentences(sentences, v, max_len=8)
    assert [v.decode(row) for row in tokens] == sentences
    assert TextSet(tokens, lengths, v).sentences() == sentences
    with pytest.raises(ValueError, match=r"tokens must be int64 \[N, max_len\], got torch.int32"):
        TextSet(tokens.int(), lengths, v)
    with pytest.raises(ValueError, match=r"lengths must be int64 \[3\], got torch.int64 \[2\]"):
        TextSet(tokens, lengths[:2], v)


# ---------------------------------------------------------------- files


def test_load_text_counts_empty_lines_and_truncation(tmp_path):
    path = write(tmp_path, "the cat sat\n\n   \nthe dog sat on the mat\nthe cat\n")
    data = load_text(path, max_len=4)
    assert isinstance(data, TextSet) and len(data) == 3 and data.max_len == 4
    assert data.skipped_empty == 2 and data.truncated == 1
    assert data.vocab.itos[4:] == ["the", "cat", "sat", "dog", "mat", "on"]
    assert data.sentences() == [["the", "cat", "sat"], ["the", "dog", "sat", "on"],
                                ["the", "cat"]]
    assert data.lengths.tolist() == [4, 4, 3]


def test_a_test_split_reuses_the_training_vocab(tmp_path):
    train = load_text(write(tmp_path, "a b\nb c\n", "train.txt"))
    test = load_text(write(tmp_path, "c d\n", "test.txt"), vocab=train.vocab)
    assert test.vocab is train.vocab
    assert test.sentences() == [["c", "<unk>"]]


def test_char_level_file_with_spaced_and_unspaced_chinese(tmp_path):
    path = write(tmp_path, "\ufeff秦 川 雄\n秦川帝\n")  # with a byte-order mark
    data = load_text(path, level="char", max_len=5)
    assert data.sentences() == [["秦", "川", "雄"], ["秦", "川", "帝"]]
    assert data.vocab.itos[4:6] == ["川", "秦"]  # count 2 each: ties in code-point order


def test_missing_file_empty_corpus_and_bad_bytes(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: no such text file"):
        read_sentences(tmp_path / "nope.txt")
    empty = write(tmp_path, "\n  \n\t\n", "blank.txt")
    with pytest.raises(ValueError, match=r"blank.txt: empty corpus"):
        read_sentences(empty)
    with pytest.raises(ValueError, match=r"zero.txt: empty corpus"):
        load_text(write(tmp_path, b"", "zero.txt"))
    bad = write(tmp_path, b"fine line\nalso fine\nbad \xff byte\n", "bad.txt")
    with pytest.raises(ValueError, match=r"bad.txt: line 3 is not valid UTF-8"):
        load_text(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_len": 0}, "max_len must be an int >= 1"),
    ({"vocab_size": 3}, "vocab_size must be an int >= 5"),
    ({"min_count": 0}, "min_count must be an int >= 1"),
    ({"vocab": ["a"]}, "vocab must be a Vocab or None, got list"),
    ({"level": "words"}, "level must be one of word, char"),
])
def test_load_text_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_text(write(tmp_path, "a b\n"), **kwargs)


@pytest.mark.skipif(not COCO.is_dir(), reason=f"shared data folder {COCO} is absent")
def test_coco_captions_train_split():
    data = load_text(COCO / "train.txt", max_len=20, vocab_size=5000)
    assert data.tokens.shape == (10_000, 20) and data.skipped_empty == 0
    assert len(data.vocab) == 5000 and data.vocab.itos[4] == "a"
    assert 0 < data.truncated < 500
    assert data.lengths.min() >= 2 and data.lengths.max() == 20
    assert (data.tokens == Vocab.UNK).any()  # the corpus has more than 4996 distinct words
    full = load_text(COCO / "train.txt", max_len=20, vocab_size=None)
    assert len(full.vocab) > 5000 and not (full.tokens == Vocab.UNK).any()
    assert full.sentences()[0] == "a bicycle replica with a clock as the front wheel.".split()
