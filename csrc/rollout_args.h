// Argument checks of pygan::rollout, shared by the CPU kernel, the CUDA
// binding, the fake kernel and the reference (pygan/ops/rollout.py, through
// the check op of rollout_checks.cpp), so every path refuses the same inputs
// with the same words, naming the argument.
//
// The checks but the token range of seqs, which reads its values (fake
// tensors have none), are templates over the size type I (see sym_sizes.h);
// a comparison of symbolic sizes adds a guard.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <array>
#include <cmath>
#include <limits>
#include <optional>

#include "common/rollout.h"
#include "sym_sizes.h"

namespace pygan {

// What the kernels need besides the tensors.
struct RolloutArgs {
  RolloutShape shape;
  float inv_temp;
  uint64_t seed;
  uint64_t offset;
  int64_t start_token;
  int64_t eos_token;  // -1: none
  int64_t pad_token;
};

template <typename I>
struct RolloutSizes {
  I batch, length, vocab, emb, hidden;
};

template <typename I>
void check_param(const char* name, const at::Tensor& t, c10::ArrayRef<I> want,
                 const at::Tensor& seqs) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, "rollout: ", name, " must be float32, got ",
              t.scalar_type());
  TORCH_CHECK(t.device() == seqs.device(), "rollout: ", name, " is on ", t.device(),
              " but seqs is on ", seqs.device());
  TORCH_CHECK(at::symint::sizes<I>(t) == want, "rollout: ", name, " must have shape ", want,
              ", got ", at::symint::sizes<I>(t));
}

template <typename I>
void check_token(const char* name, int64_t token, const I& vocab) {
  TORCH_CHECK(token >= 0 && vocab > token, "rollout: ", name, " must be a token id in [0, ",
              vocab, "), got ", token);
}

// Checks every argument but the values of seqs, naming the offending one.
template <typename I>
RolloutSizes<I> check_rollout_sizes(const at::Tensor& seqs, const at::Tensor& embedding,
                                    const at::Tensor& w_ih, const at::Tensor& w_hh,
                                    const at::Tensor& b_ih, const at::Tensor& b_hh,
                                    const at::Tensor& w_out, const at::Tensor& b_out,
                                    int64_t n_rollouts, double temperature, int64_t offset,
                                    int64_t start_token, std::optional<int64_t> eos_token,
                                    int64_t pad_token) {
  const auto sizes = [](const at::Tensor& t) { return at::symint::sizes<I>(t); };
  const auto size = [](const at::Tensor& t, int64_t d) { return at::symint::size<I>(t, d); };
  TORCH_CHECK(seqs.scalar_type() == at::kLong && seqs.dim() == 2, "rollout: seqs must be an ",
              "int64 tensor [B, T], got ", seqs.scalar_type(), " of shape ", sizes(seqs));
  const I batch = size(seqs, 0), length = size(seqs, 1);
  TORCH_CHECK(batch >= 1, "rollout: seqs must hold at least one sequence, got shape ",
              sizes(seqs));
  TORCH_CHECK(length >= 2, "rollout: seqs must have T >= 2 tokens a row (prefix lengths ",
              "1..T-1), got T = ", length);
  TORCH_CHECK(embedding.dim() == 2 && size(embedding, 0) >= 1 && size(embedding, 1) >= 1,
              "rollout: embedding must be [V, E], got shape ", sizes(embedding));
  const I vocab = size(embedding, 0), emb = size(embedding, 1);
  TORCH_CHECK(w_hh.dim() == 2 && size(w_hh, 1) >= 1 && size(w_hh, 0) == 4 * size(w_hh, 1),
              "rollout: w_hh must be [4H, H] (torch.nn.LSTM's weight_hh_l0), got shape ",
              sizes(w_hh));
  const I hidden = size(w_hh, 1);
  check_param<I>("embedding", embedding, {vocab, emb}, seqs);
  check_param<I>("w_ih", w_ih, {4 * hidden, emb}, seqs);
  check_param<I>("w_hh", w_hh, {4 * hidden, hidden}, seqs);
  check_param<I>("b_ih", b_ih, {4 * hidden}, seqs);
  check_param<I>("b_hh", b_hh, {4 * hidden}, seqs);
  check_param<I>("w_out", w_out, {vocab, hidden}, seqs);
  check_param<I>("b_out", b_out, {vocab}, seqs);
  TORCH_CHECK(n_rollouts >= 1, "rollout: n_rollouts must be >= 1, got ", n_rollouts);
  TORCH_CHECK(!numel_overflows(std::array<I, 4>{I(n_rollouts), length - 1, batch, length}),
              "rollout: n_rollouts = ", n_rollouts, " makes the output [n_rollouts, T-1, B, T] ",
              "hold more than 2**63 - 1 elements");
  // The kernels weight a token by exp((l - max) * (1/temperature)), the
  // inverse in float32. Below this bound it is inf, (max - max) * inf is NaN
  // and every weight 0 (the draws fell to token V-1), so it is refused; at
  // the bound any logit more than ~1e-37 below the max already has weight 0.
  const double min_temperature = 1.0 / std::numeric_limits<float>::max();
  TORCH_CHECK(std::isfinite(temperature) && temperature >= min_temperature,
              "rollout: temperature must be a positive finite number of at least ",
              min_temperature, " (1/temperature must be finite in float32), got ", temperature);
  TORCH_CHECK(offset >= 0, "rollout: offset must be >= 0, got ", offset);
  check_token<I>("start_token", start_token, vocab);
  if (eos_token.has_value()) check_token<I>("eos_token", *eos_token, vocab);
  check_token<I>("pad_token", pad_token, vocab);
  return {batch, length, vocab, emb, hidden};
}

// Checks every argument, naming the offending one. The token range check
// of seqs reads its min and max (one device sync on CUDA).
inline RolloutArgs check_rollout_args(const at::Tensor& seqs, const at::Tensor& embedding,
                                      const at::Tensor& w_ih, const at::Tensor& w_hh,
                                      const at::Tensor& b_ih, const at::Tensor& b_hh,
                                      const at::Tensor& w_out, const at::Tensor& b_out,
                                      int64_t n_rollouts, double temperature, int64_t seed,
                                      int64_t offset, int64_t start_token,
                                      std::optional<int64_t> eos_token, int64_t pad_token) {
  const RolloutSizes<int64_t> s =
      check_rollout_sizes<int64_t>(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out,
                                   n_rollouts, temperature, offset, start_token, eos_token,
                                   pad_token);
  const auto [lo, hi] = at::aminmax(seqs);
  const int64_t lo_v = lo.item<int64_t>(), hi_v = hi.item<int64_t>();
  TORCH_CHECK(lo_v >= 0 && hi_v < s.vocab, "rollout: seqs must hold token ids in [0, ", s.vocab,
              "), got values from ", lo_v, " to ", hi_v);
  return {{n_rollouts, s.length, s.batch, s.vocab, s.emb, s.hidden},
          static_cast<float>(1.0 / temperature),
          static_cast<uint64_t>(seed),
          static_cast<uint64_t>(offset),
          start_token,
          eos_token.value_or(-1),
          pad_token};
}

}  // namespace pygan
