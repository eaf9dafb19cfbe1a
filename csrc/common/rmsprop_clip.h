// The per-element RMSProp (+ optional clamp) update, shared by the CPU loop
// and the CUDA kernel so the two backends cannot drift apart.
//
// It reproduces torch.optim.RMSprop's single-tensor update operation by
// operation (same order, same lerp formula) so float64 results agree with
// torch to rounding, then clamps the parameter to [-clip, clip].
#pragma once

#include <math.h>

#include "macros.h"

namespace pygan {

// Hyperparameters of one rmsprop_clip_ call. acc_t is the type the math runs
// in: float for float/half/bfloat16 parameters, double for double.
template <typename acc_t>
struct RMSpropClipHyper {
  acc_t lr;
  acc_t alpha;
  acc_t eps;
  acc_t weight_decay;
  acc_t momentum;
  acc_t clip;  // only read when has_clip
  bool centered;
  bool maximize;
  bool has_clip;
};

template <typename to_t, typename from_t>
inline RMSpropClipHyper<to_t> cast_hyper(const RMSpropClipHyper<from_t>& h) {
  return {static_cast<to_t>(h.lr),           static_cast<to_t>(h.alpha),
          static_cast<to_t>(h.eps),          static_cast<to_t>(h.weight_decay),
          static_cast<to_t>(h.momentum),     static_cast<to_t>(h.clip),
          h.centered,                        h.maximize,
          h.has_clip};
}

// Clamp that lets NaN through (as torch.clamp does), unlike fmin/fmax,
// so a diverging critic shows up as NaN instead of a silently clipped value.
template <typename acc_t>
PYGAN_HD acc_t clamp_nan_through(acc_t x, acc_t lo, acc_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// Updates one element in place. The three flags are template parameters so
// each variant compiles to a branch-free loop body (vectorized on the CPU,
// fewer registers on the GPU); maximize and weight_decay stay runtime
// selects, which are free.
//   p             parameter (read, written)
//   g             gradient (read)
//   square_avg    running mean of g^2 (read, written)
//   momentum_buf  read/written iff kMomentum (h.momentum > 0)
//   grad_avg      read/written iff kCentered
template <bool kCentered, bool kMomentum, bool kClip, typename acc_t>
PYGAN_HD void rmsprop_clip_update(acc_t& p, acc_t g, acc_t& square_avg,
                                  acc_t& momentum_buf, acc_t& grad_avg,
                                  const RMSpropClipHyper<acc_t>& h) {
  if (h.maximize) g = -g;
  if (h.weight_decay != acc_t(0)) g = g + h.weight_decay * p;
  const acc_t one_minus_alpha = acc_t(1) - h.alpha;
  // Operation order of torch's addcmul_: self + (value * t1) * t2.
  square_avg = square_avg * h.alpha + one_minus_alpha * g * g;
  acc_t avg;
  if constexpr (kCentered) {
    // torch's lerp: start + w * (end - start) for w < 0.5, else the mirrored form.
    const acc_t diff = g - grad_avg;
    grad_avg = one_minus_alpha < acc_t(0.5) ? grad_avg + one_minus_alpha * diff
                                            : g - diff * (acc_t(1) - one_minus_alpha);
    avg = sqrt(square_avg - grad_avg * grad_avg);
  } else {
    avg = sqrt(square_avg);
  }
  avg = avg + h.eps;
  if constexpr (kMomentum) {
    momentum_buf = momentum_buf * h.momentum + g / avg;
    p = p - h.lr * momentum_buf;
  } else {
    p = p - h.lr * (g / avg);
  }
  if constexpr (kClip) p = clamp_nan_through(p, -h.clip, h.clip);
}

template <bool B>
struct BoolConstant {
  static constexpr bool value = B;
};

// Calls f(BoolConstant<centered>, BoolConstant<momentum>, BoolConstant<clip>)
// with the flags of h as compile-time constants (host code only).
template <typename acc_t, typename F>
void dispatch_rmsprop_flags(const RMSpropClipHyper<acc_t>& h, F&& f) {
  auto with_clip = [&](auto c, auto m) {
    if (h.has_clip) f(c, m, BoolConstant<true>{});
    else f(c, m, BoolConstant<false>{});
  };
  auto with_momentum = [&](auto c) {
    if (h.momentum > acc_t(0)) with_clip(c, BoolConstant<true>{});
    else with_clip(c, BoolConstant<false>{});
  };
  if (h.centered) with_momentum(BoolConstant<true>{});
  else with_momentum(BoolConstant<false>{});
}

}  // namespace pygan
