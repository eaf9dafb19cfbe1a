"""What `pygan train seqgan` trains on: samples of an oracle LSTM (the
paper's synthetic experiment) or a text file, one sentence a line."""
from ..models.oracle import OracleLSTM


def add_data_arguments(parser) -> None:
    """The data flags of `pygan train seqgan`."""
    parser.add_argument("--data", required=True, help='"oracle" (the synthetic experiment) or '
                        "a UTF-8 text file, one sentence a line")
    parser.add_argument("--oracle-params", help="oracle: its .npz parameter file (e.g. "
                        "seqgan_oracle_lstm.npz); default: a random oracle from --oracle-seed")
    parser.add_argument("--oracle-seed", type=int, default=0,
                        help="oracle: seed of the random oracle's weights and of the training "
                        "sequences (default: 0)")
    parser.add_argument("--oracle-samples", type=int, default=10000,
                        help="oracle: training sequences drawn from it (default: 10000)")
    parser.add_argument("--oracle-emb", type=int, default=32,
                        help="random oracle: embedding size (default: 32)")
    parser.add_argument("--oracle-hidden", type=int, default=32,
                        help="random oracle: hidden size (default: 32)")
    parser.add_argument("--vocab-size", type=int, default=5000,
                        help="text: most vocabulary entries, the 4 specials included; random "
                        "oracle: its vocabulary (default: 5000)")
    parser.add_argument("--max-len", type=int, default=20, help="tokens a sequence; longer "
                        "sentences are cut (default: 20)")
    parser.add_argument("--level", choices=("word", "char"), default="word",
                        help="text: word or character tokens (default: word)")


def data_from_args(args) -> tuple:
    """(token ids int64 [N, max_len], meta) for the parsed flags; meta names
    the data and holds the oracle's source or the vocabulary."""
    from ..data import load_text

    if args.max_len < 2:  # before any data is read or model trained
        raise ValueError(f"--max-len must be >= 2 (rollouts complete prefixes of 1 .. "
                         f"max_len - 1 tokens), got {args.max_len}")
    if args.data == "oracle":
        if args.oracle_samples < 1:
            raise ValueError(f"--oracle-samples must be >= 1, got {args.oracle_samples}")
        if args.oracle_params:
            oracle = OracleLSTM.from_npz(args.oracle_params, args.max_len)
        else:
            oracle = OracleLSTM.random(args.vocab_size, args.oracle_emb, args.oracle_hidden,
                                       args.max_len, args.oracle_seed)
        tokens = oracle.generate(args.oracle_samples, seed=args.oracle_seed)
        return tokens, {"data": "oracle", "oracle": oracle.source,
                        "oracle_samples": args.oracle_samples, "oracle_seed": args.oracle_seed}
    text = load_text(args.data, args.level, args.max_len, args.vocab_size)
    return text.tokens, {"data": str(args.data), "level": args.level,
                         "vocab": text.vocab.state_dict(), "sentences": len(text),
                         "truncated": text.truncated, "skipped_empty": text.skipped_empty}
