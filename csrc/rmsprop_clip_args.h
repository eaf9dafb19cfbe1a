// Argument checks of pygan::rmsprop_clip_, shared by the CPU kernel, the
// CUDA binding, the fake kernel and the reference (its hyperparameters) of
// pygan/ops/rmsprop_clip.py, through the check ops of rmsprop_clip_checks.cpp,
// so every path refuses the same inputs with the same words, naming the
// argument.
//
// The tensor checks are templates over the size type I (see sym_sizes.h); a
// comparison of symbolic sizes adds a guard, as the same check in Python would.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/rmsprop_clip.h"

namespace pygan {

// State tensors are float32 for half/bfloat16 parameters (a float32 running
// mean of g^2 does not underflow), otherwise the parameter dtype.
inline at::ScalarType rmsprop_state_dtype(at::ScalarType param_dtype) {
  return at::isReducedFloatingType(param_dtype) ? at::kFloat : param_dtype;
}

// Whether two dense tensors of one shape lay their elements out in the same
// order: strides equal on every dimension of size > 1 (a size-1 dimension's
// stride is arbitrary; autograd and compiled graphs give grads such strides).
template <typename I>
bool same_memory_order(const at::Tensor& a, const at::Tensor& b) {
  const auto sizes = at::symint::sizes<I>(a);
  const auto sa = at::symint::strides<I>(a), sb = at::symint::strides<I>(b);
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] > 1 && sa[d] != sb[d]) return false;
  }
  return true;
}

template <typename I>
void check_rmsprop_list(const char* name, at::TensorList list, at::TensorList params,
                        at::ScalarType dtype) {
  TORCH_CHECK(list.size() == params.size(), "rmsprop_clip_: ", name, " has ", list.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const at::Tensor& t = list[i];
    TORCH_CHECK(t.defined(), "rmsprop_clip_: ", name, "[", i, "] is undefined");
    TORCH_CHECK(t.device() == params[0].device(), "rmsprop_clip_: ", name, "[", i, "] is on ",
                t.device(), " but params[0] is on ", params[0].device());
    TORCH_CHECK(t.scalar_type() == dtype, "rmsprop_clip_: ", name, "[", i, "] has dtype ",
                t.scalar_type(), ", expected ", dtype);
    TORCH_CHECK(t.layout() == at::kStrided, "rmsprop_clip_: ", name, "[", i,
                "] must be a dense (strided) tensor, got layout ", t.layout());
    // Dense tensors with identical strides can be walked as flat arrays in
    // lockstep (this admits channels_last parameters, not only contiguous ones).
    const auto sizes = at::symint::sizes<I>(t), strides = at::symint::strides<I>(t);
    TORCH_CHECK(t.is_non_overlapping_and_dense(), "rmsprop_clip_: ", name, "[", i,
                "] must be dense (contiguous up to a permutation), got strides ", strides,
                " for shape ", sizes);
    TORCH_CHECK(sizes == at::symint::sizes<I>(params[i]), "rmsprop_clip_: ", name, "[", i,
                "] has shape ", sizes, " but params[", i, "] has shape ",
                at::symint::sizes<I>(params[i]));
    TORCH_CHECK(same_memory_order<I>(t, params[i]), "rmsprop_clip_: ", name, "[", i,
                "] has strides ", strides, " but params[", i, "] has strides ",
                at::symint::strides<I>(params[i]));
  }
}

// A hyperparameter in [lo, hi]. Unless its rule is tighter (alpha), hi is
// the largest value of the update's math type (float32 for float32, float16
// and bfloat16 params), given as `math`: beyond it the kernels' cast would
// give inf and every parameter -inf or NaN.
inline void check_hyper(const char* name, double value, double lo, double hi,
                        const char* math = nullptr) {
  TORCH_CHECK(std::isfinite(value) && value >= lo && value <= hi, "rmsprop_clip_: ", name,
              " must be in [", lo, ", ", hi, "]", math ? " (the update runs in " : "",
              math ? math : "", math ? ")" : "", ", got ", value);
}

// The hyperparameters for params of the given dtype: the update runs in
// float64 for float64 params, else in float32.
inline void check_rmsprop_hyper(at::ScalarType dtype, double lr, double alpha, double eps,
                                double weight_decay, double momentum,
                                std::optional<double> clip) {
  const bool single = dtype != at::kDouble;
  const double hi =
      single ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
  const char* math = single ? "float32" : "float64";
  check_hyper("lr", lr, 0.0, hi, math);
  check_hyper("alpha", alpha, 0.0, 1.0);
  check_hyper("eps", eps, 0.0, hi, math);
  check_hyper("weight_decay", weight_decay, 0.0, hi, math);
  check_hyper("momentum", momentum, 0.0, hi, math);
  if (clip.has_value()) {
    TORCH_CHECK(std::isfinite(*clip) && *clip > 0 && *clip <= hi,
                "rmsprop_clip_: clip must be positive and finite (at most ", hi,
                ": the update runs in ", math, "), or None for no clamping, got ", *clip);
  }
}

// One tensor's bytes, [begin, end) in `space`, for the overlap check. The
// kernels' tensors give addresses (space nullptr: one address space, so two
// storages over the same memory, two from_numpy of one array, are caught);
// fake and meta tensors have no data, so they give byte offsets into their
// storage (space: the storage, which views of one tensor share).
template <typename I>
struct RMSpropSpan {
  const void* space;
  I begin;
  I end;
  const char* list;
  size_t index;
  bool written;
  int order;  // the argument's position, so a message names the earlier one first
};

template <typename I>
RMSpropSpan<I> rmsprop_span(const at::Tensor& t, const char* list, size_t index, bool written,
                            int order) {
  const int64_t item = int64_t(t.element_size());
  if constexpr (std::is_same_v<I, int64_t>) {
    const int64_t begin = reinterpret_cast<intptr_t>(t.const_data_ptr());
    return {nullptr, begin, begin + t.numel() * item, list, index, written, order};
  } else {
    const I begin = t.sym_storage_offset() * item;
    return {t.storage().unsafeGetStorageImpl(), begin, begin + t.sym_numel() * item,
            list, index, written, order};
  }
}

// The update reads and writes each element once, all lists in lockstep, so
// a written tensor sharing memory with any other argument (square_avg is
// param, a grad that is a param, one tensor passed twice) would read values
// already updated. Refused, like torch's own in-place ops on overlapping
// memory; grads may share memory with each other (they are only read).
// Dense tensors span exactly numel elements from their data pointer, so one
// sort and sweep over the spans finds any overlap.
template <typename I>
void check_rmsprop_overlap(at::TensorList params, at::TensorList grads,
                           at::TensorList square_avgs, at::TensorList momentum_buffers,
                           at::TensorList grad_avgs) {
  const struct {
    const char* name;
    at::TensorList list;
    bool written;
  } lists[] = {{"params", params, true},
               {"grads", grads, false},
               {"square_avgs", square_avgs, true},
               {"momentum_buffers", momentum_buffers, true},
               {"grad_avgs", grad_avgs, true}};
  std::vector<RMSpropSpan<I>> spans;
  for (int l = 0; l < 5; ++l) {
    for (size_t i = 0; i < lists[l].list.size(); ++i) {
      const at::Tensor& t = lists[l].list[i];
      if (at::symint::numel<I>(t) == 0) continue;
      spans.push_back(rmsprop_span<I>(t, lists[l].name, i, lists[l].written, l));
    }
  }
  std::sort(spans.begin(), spans.end(), [](const RMSpropSpan<I>& a, const RMSpropSpan<I>& b) {
    if (a.space != b.space) return std::less<const void*>()(a.space, b.space);
    return a.begin < b.begin;
  });
  // Of the spans seen so far in one space: the one reaching furthest, and
  // the written one reaching furthest. A span overlaps an earlier one iff it
  // starts before that earlier one's end; a read-only span only matters
  // against a written one.
  const RMSpropSpan<I>* furthest = nullptr;
  const RMSpropSpan<I>* furthest_written = nullptr;
  for (const RMSpropSpan<I>& s : spans) {
    if (furthest != nullptr && furthest->space != s.space) furthest = furthest_written = nullptr;
    const RMSpropSpan<I>* other = s.written ? furthest : furthest_written;
    if (other != nullptr && s.begin < other->end) {
      const bool first =
          std::make_pair(s.order, s.index) < std::make_pair(other->order, other->index);
      const RMSpropSpan<I>& a = first ? s : *other;
      const RMSpropSpan<I>& b = first ? *other : s;
      TORCH_CHECK(false, "rmsprop_clip_: ", a.list, "[", a.index, "] and ", b.list, "[", b.index,
                  "] overlap in memory; the tensors the update writes (params, square_avgs, ",
                  "momentum_buffers, grad_avgs) must not share memory with any other argument");
    }
    if (furthest == nullptr || s.end > furthest->end) furthest = &s;
    if (s.written && (furthest_written == nullptr || s.end > furthest_written->end))
      furthest_written = &s;
  }
}

// Checks every argument (names the offending one) and returns the
// hyperparameters; kernels cast them to their math type with cast_hyper.
template <typename I>
RMSpropClipHyper<double> check_rmsprop_clip_args(
    at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
    at::TensorList momentum_buffers, at::TensorList grad_avgs, double lr, double alpha,
    double eps, double weight_decay, double momentum, bool centered, bool maximize,
    std::optional<double> clip) {
  const at::ScalarType dtype = params.empty() ? at::kDouble : params[0].scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                  dtype == at::kBFloat16,
              "rmsprop_clip_: params must be float32, float64, float16 or bfloat16, got ", dtype);
  check_rmsprop_hyper(dtype, lr, alpha, eps, weight_decay, momentum, clip);
  if (!params.empty()) {
    const at::ScalarType state = rmsprop_state_dtype(dtype);
    check_rmsprop_list<I>("params", params, params, dtype);
    check_rmsprop_list<I>("grads", grads, params, dtype);
    check_rmsprop_list<I>("square_avgs", square_avgs, params, state);
    if (momentum > 0) {
      check_rmsprop_list<I>("momentum_buffers", momentum_buffers, params, state);
    }
    if (centered) check_rmsprop_list<I>("grad_avgs", grad_avgs, params, state);
  } else {
    TORCH_CHECK(grads.empty() && square_avgs.empty(),
                "rmsprop_clip_: params is empty but grads has ", grads.size(),
                " tensors and square_avgs ", square_avgs.size());
  }
  TORCH_CHECK(momentum > 0 || momentum_buffers.empty(),
              "rmsprop_clip_: momentum_buffers must be empty when momentum is 0, got ",
              momentum_buffers.size(), " tensors");
  TORCH_CHECK(centered || grad_avgs.empty(),
              "rmsprop_clip_: grad_avgs must be empty when centered is False, got ",
              grad_avgs.size(), " tensors");
  check_rmsprop_overlap<I>(params, grads, square_avgs, momentum_buffers, grad_avgs);
  return RMSpropClipHyper<double>{lr,       alpha,    eps,
                                  weight_decay, momentum, clip.value_or(0.0),
                                  centered, maximize, clip.has_value()};
}

}  // namespace pygan
