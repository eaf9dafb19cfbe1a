// Argument checks of pygan::rmsprop_clip_, shared by the CPU kernel and the
// CUDA binding so both backends reject the same inputs with the same words.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "common/rmsprop_clip.h"

namespace pygan {

// State tensors are float32 for half/bfloat16 parameters (a float32 running
// mean of g^2 does not underflow), otherwise the parameter dtype.
inline at::ScalarType rmsprop_state_dtype(at::ScalarType param_dtype) {
  return at::isReducedFloatingType(param_dtype) ? at::kFloat : param_dtype;
}

inline void check_rmsprop_list(const char* name, at::TensorList list, at::TensorList params,
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
    TORCH_CHECK(t.is_non_overlapping_and_dense(), "rmsprop_clip_: ", name, "[", i,
                "] must be dense (contiguous up to a permutation), got strides ", t.strides(),
                " for shape ", t.sizes());
    TORCH_CHECK(t.sizes() == params[i].sizes(), "rmsprop_clip_: ", name, "[", i, "] has shape ",
                t.sizes(), " but params[", i, "] has shape ", params[i].sizes());
    TORCH_CHECK(t.strides() == params[i].strides(), "rmsprop_clip_: ", name, "[", i,
                "] has strides ", t.strides(), " but params[", i, "] has strides ",
                params[i].strides());
  }
}

inline void check_hyper(const char* name, double value, double lo, double hi) {
  TORCH_CHECK(std::isfinite(value) && value >= lo && value <= hi, "rmsprop_clip_: ", name,
              " must be in [", lo, ", ", hi, "], got ", value);
}

// Checks every argument (names the offending one) and returns the
// hyperparameters; kernels cast them to their math type with cast_hyper.
inline RMSpropClipHyper<double> check_rmsprop_clip_args(
    at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
    at::TensorList momentum_buffers, at::TensorList grad_avgs, double lr, double alpha,
    double eps, double weight_decay, double momentum, bool centered, bool maximize,
    std::optional<double> clip) {
  const double inf = INFINITY;
  check_hyper("lr", lr, 0.0, inf);
  check_hyper("alpha", alpha, 0.0, 1.0);
  check_hyper("eps", eps, 0.0, inf);
  check_hyper("weight_decay", weight_decay, 0.0, inf);
  check_hyper("momentum", momentum, 0.0, inf);
  if (clip.has_value()) {
    TORCH_CHECK(std::isfinite(*clip) && *clip > 0, "rmsprop_clip_: clip must be positive ",
                "and finite (or None for no clamping), got ", *clip);
  }
  if (!params.empty()) {
    const at::ScalarType dtype = params[0].scalar_type();
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                    dtype == at::kBFloat16,
                "rmsprop_clip_: params must be float32, float64, float16 or bfloat16, got ",
                dtype);
    const at::ScalarType state = rmsprop_state_dtype(dtype);
    check_rmsprop_list("params", params, params, dtype);
    check_rmsprop_list("grads", grads, params, dtype);
    check_rmsprop_list("square_avgs", square_avgs, params, state);
    if (momentum > 0) {
      check_rmsprop_list("momentum_buffers", momentum_buffers, params, state);
    }
    if (centered) check_rmsprop_list("grad_avgs", grad_avgs, params, state);
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
  return RMSpropClipHyper<double>{lr,       alpha,    eps,
                                  weight_decay, momentum, clip.value_or(0.0),
                                  centered, maximize, clip.has_value()};
}

}  // namespace pygan
