"""Likelihood metrics of sequence models: the NLL of sequences under a
generator, and NLL-oracle (SeqGAN's synthetic-data metric)."""
import torch
from torch import Tensor

from ..models.oracle import OracleLSTM
from ..models.seqgan import LSTMGenerator, check_temperature, check_tokens


@torch.no_grad()
def nll(model: LSTMGenerator, seqs: Tensor, batch_size: int = 25,
        temperature: float = 1.0) -> float:
    """Mean -log p(token | earlier tokens) under ``model`` (its
    softmax(logits / ``temperature``)) over the tokens of
    ``seqs`` (int64 [N, model.max_len], any device) that count: for text,
    those up to and including the first EOS (the PAD after it is not scored).
    ``batch_size`` sequences are scored at a time, in eval mode (small
    batches keep the [batch * T, V] logits in the CPU's cache: 25 sequences of
    a 5,000-token oracle ran 2.5x faster than 1,000)."""
    if not isinstance(model, LSTMGenerator):
        raise ValueError(f"model must be an LSTMGenerator, got {type(model).__name__}")
    check_tokens("seqs", seqs, model.max_len)
    if len(seqs) == 0:
        raise ValueError("seqs must hold at least one sequence, got 0")
    if int(seqs.min()) < 0 or int(seqs.max()) >= model.vocab_size:
        raise ValueError(f"seqs must hold ids in [0, {model.vocab_size}), got "
                         f"{int(seqs.min())}..{int(seqs.max())}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    check_temperature(temperature)
    device = model.out.weight.device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for part in seqs.split(batch_size):
        part = part.to(device)
        mask = model.token_mask(part)
        total -= (model.log_probs(part, temperature) * mask).sum().item()
        count += int(mask.sum())
    model.train(was_training)
    return total / count


def oracle_nll(oracle: OracleLSTM, seqs: Tensor, batch_size: int = 25) -> float:
    """NLL-oracle: the mean over sequences and positions of -log p_oracle of
    ``seqs`` (int64 [N, seq_len], e.g. a generator's samples); lower means
    the samples are likelier under the oracle that made the training data."""
    if not isinstance(oracle, OracleLSTM):
        raise ValueError(f"oracle must be an OracleLSTM, got {type(oracle).__name__}")
    return nll(oracle, seqs, batch_size)
