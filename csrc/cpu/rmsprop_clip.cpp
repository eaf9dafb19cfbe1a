// CPU kernel of pygan::rmsprop_clip_: every tensor of the lists is cut into
// fixed-size chunks and at::parallel_for spreads all chunks of all tensors
// over the threads, so one big tensor and many small ones both use every core.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../rmsprop_clip_args.h"
#include "vectorize.h"

namespace pygan {
namespace {

constexpr int64_t kChunk = 1 << 15;  // elements; ~640 KB of p, g, state traffic

struct Chunk {
  int64_t tensor;
  int64_t begin;
  int64_t end;
};

// One chunk, one pass: the loop body is branch-free for fixed flags, so the
// compiler vectorizes it (see -fno-math-errno in setup.py).
template <bool kCentered, bool kMomentum, bool kClip, typename scalar_t, typename acc_t>
PYGAN_CPU_CLONES void update_range(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                  acc_t* __restrict__ sq, acc_t* __restrict__ mom, acc_t* __restrict__ gavg,
                  int64_t n, const RMSpropClipHyper<acc_t>& h) {
  for (int64_t i = 0; i < n; ++i) {
    acc_t pv = static_cast<acc_t>(p[i]);
    acc_t unused_mom = 0, unused_gavg = 0;
    rmsprop_clip_update<kCentered, kMomentum, kClip>(
        pv, static_cast<acc_t>(g[i]), sq[i], kMomentum ? mom[i] : unused_mom,
        kCentered ? gavg[i] : unused_gavg, h);
    p[i] = static_cast<scalar_t>(pv);
  }
}

template <typename scalar_t>
void run(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
         at::TensorList momentum_buffers, at::TensorList grad_avgs,
         const RMSpropClipHyper<double>& hyper) {
  using acc_t = at::opmath_type<scalar_t>;
  const auto h = cast_hyper<acc_t>(hyper);
  std::vector<Chunk> chunks;
  int64_t total = 0;
  for (size_t t = 0; t < params.size(); ++t) {
    const int64_t n = params[t].numel();
    total += n;
    for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({int64_t(t), b, std::min(n, b + kChunk)});
  }
  // Chunks per task: about kChunk elements each, so many small tensors do not
  // pay a thread wake-up per tensor (they run on one thread when few).
  const int64_t grain =
      std::max<int64_t>(1, kChunk * int64_t(chunks.size()) / std::max<int64_t>(total, 1));
  auto ptr = [](at::TensorList list, int64_t t, int64_t offset) -> acc_t* {
    return list.empty() ? nullptr : list[t].data_ptr<acc_t>() + offset;
  };
  dispatch_rmsprop_flags(h, [&](auto centered, auto momentum, auto clip) {
    at::parallel_for(0, int64_t(chunks.size()), grain, [&](int64_t first, int64_t last) {
      for (int64_t c = first; c < last; ++c) {
        const Chunk& k = chunks[c];
        update_range<decltype(centered)::value, decltype(momentum)::value,
                     decltype(clip)::value>(
            params[k.tensor].data_ptr<scalar_t>() + k.begin,
            grads[k.tensor].data_ptr<scalar_t>() + k.begin,
            ptr(square_avgs, k.tensor, k.begin), ptr(momentum_buffers, k.tensor, k.begin),
            ptr(grad_avgs, k.tensor, k.begin), k.end - k.begin, h);
      }
    });
  });
}

void rmsprop_clip_cpu(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
                      at::TensorList momentum_buffers, at::TensorList grad_avgs, double lr,
                      double alpha, double eps, double weight_decay, double momentum,
                      bool centered, bool maximize, std::optional<double> clip) {
  const auto hyper =
      check_rmsprop_clip_args<int64_t>(params, grads, square_avgs, momentum_buffers, grad_avgs,
                                       lr, alpha, eps, weight_decay, momentum, centered,
                                       maximize, clip);
  if (params.empty()) return;
  TORCH_CHECK(params[0].device().is_cpu(), "rmsprop_clip_: params[0] must be on the CPU for ",
              "the CPU kernel, got ", params[0].device());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, params[0].scalar_type(),
                                  "rmsprop_clip_cpu", [&] {
                                    run<scalar_t>(params, grads, square_avgs, momentum_buffers,
                                                  grad_avgs, hyper);
                                  });
}

// Calls with no tensor at all (every list empty) carry no dispatch key and
// land here, as do tensors on devices pygan has no kernel for: check the
// arguments, then do nothing or say which device lacks a kernel.
void rmsprop_clip_no_kernel(at::TensorList params, at::TensorList grads,
                            at::TensorList square_avgs, at::TensorList momentum_buffers,
                            at::TensorList grad_avgs, double lr, double alpha, double eps,
                            double weight_decay, double momentum, bool centered, bool maximize,
                            std::optional<double> clip) {
  check_rmsprop_clip_args<int64_t>(params, grads, square_avgs, momentum_buffers, grad_avgs, lr,
                                   alpha, eps, weight_decay, momentum, centered, maximize, clip);
  TORCH_CHECK(params.empty(), "rmsprop_clip_: pygan has no kernel for params on ",
              params.empty() ? c10::Device(c10::kCPU) : params[0].device(),
              "; use pygan.ops.rmsprop_clip_reference");
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CPU, m) { m.impl("rmsprop_clip_", &rmsprop_clip_cpu); }

TORCH_LIBRARY_IMPL(pygan, CompositeExplicitAutograd, m) {
  m.impl("rmsprop_clip_", &rmsprop_clip_no_kernel);
}

}  // namespace pygan
