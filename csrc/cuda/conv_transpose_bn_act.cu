// Launchers of the CUDA passes of pygan::conv_transpose_bn_act; the kernels
// and how they split the work are in conv_transpose_bn_act_kernels.cuh.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "conv_transpose_bn_act_kernels.cuh"

namespace pygan {
namespace cuda {

using namespace bn_act_kernels;

// Calls f(std::bool_constant<per_sample>).
template <typename F>
cudaError_t dispatch_per_sample(bool per_sample, F&& f) {
  if (per_sample) return f(std::true_type{});
  return f(std::false_type{});
}

size_t bn_act_workspace_bytes(Dtype dtype, BNActShape shape) {
  const size_t acc = dtype == Dtype::kFloat64 ? sizeof(double) : sizeof(float);
  int64_t splits = slice_launch(shape).splits;
  if (shape.rows_per_sample > 0) {  // the backward's slices, one per sample
    const int64_t samples = slice_launch(shape, true).splits;
    splits = samples > splits ? samples : splits;
  }
  return shape.n > 0 ? 2 * acc * size_t(shape.c * splits) : 0;
}

cudaError_t bn_act_forward_launch(Dtype dtype, const void* y, void* out, const void* gamma,
                                  const void* beta, void* mean, void* var, void* running_mean,
                                  void* running_var, void* workspace, BNActShape shape,
                                  BNActParams p, cudaStream_t stream) {
  if (shape.n * shape.c * shape.hw == 0) return cudaSuccess;
  if (p.normalize && shape.n * shape.hw > int64_t(UINT32_MAX)) return cudaErrorInvalidValue;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    using Acc = decltype(acc);
    const auto* yy = static_cast<const T*>(y);
    auto* oo = static_cast<T*>(out);
    const auto* g = static_cast<const Acc*>(gamma);
    const auto* b = static_cast<const Acc*>(beta);
    const SliceLaunch l = slice_launch(shape);
    const bool batch_stats = p.normalize && p.training;
    auto* part_mean = static_cast<Acc*>(workspace);
    auto* part_m2 = batch_stats ? part_mean + shape.c * l.splits : nullptr;
    return dispatch_act(p.act, [&](auto tag) {
      constexpr Act A = decltype(tag)::value;
      return dispatch_per_sample(shape.rows_per_sample > 0, [&](auto per_sample) {
        constexpr bool kPerSample = decltype(per_sample)::value;
        if (batch_stats) {
          dispatch_slice(l, [&](auto slice) {
            using Sl = typename decltype(slice)::type;
            stats_partial<Sl, T, Acc><<<l.grid, kThreads, 0, stream>>>(yy, shape, l.splits,
                                                                        part_mean, part_m2);
            channel_apply<Sl, A, T, Acc, kPerSample><<<l.grid, kThreads, 0, stream>>>(
                yy, oo, g, b, static_cast<Acc*>(mean), static_cast<Acc*>(var),
                static_cast<Acc*>(running_mean), static_cast<Acc*>(running_var), part_mean,
                part_m2, shape, l.splits, p);
          });
        } else {
          elementwise_forward<A, T, Acc, kPerSample>
              <<<elementwise_blocks(shape.n * shape.c * shape.hw), kThreads, 0, stream>>>(
                  yy, oo, g, b, static_cast<const Acc*>(mean), static_cast<const Acc*>(var),
                  shape, p);
        }
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t bn_act_backward_launch(Dtype dtype, const void* dout, const void* out, const void* y,
                                   const void* gamma, const void* mean, const void* var,
                                   void* dy, void* dgamma, void* dbeta, void* workspace,
                                   BNActShape shape, BNActParams p, cudaStream_t stream) {
  const int64_t total = shape.n * shape.c * shape.hw;
  if (total == 0) return cudaSuccess;
  if (p.normalize && shape.n * shape.hw > int64_t(UINT32_MAX)) return cudaErrorInvalidValue;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    using Acc = decltype(acc);
    return dispatch_act(p.act, [&](auto tag) {
      constexpr Act A = decltype(tag)::value;
      const auto* go = static_cast<const T*>(dout);
      const auto* oo = static_cast<const T*>(out);
      if (p.normalize) {
        const bool by_sample = shape.rows_per_sample > 0;
        const SliceLaunch l = slice_launch(shape, by_sample);
        auto* part_g = static_cast<Acc*>(workspace);
        auto* part_gc = part_g + shape.c * l.splits;
        const auto* yy = static_cast<const T*>(y);
        const auto* mu = static_cast<const Acc*>(mean);
        return dispatch_per_sample(by_sample, [&](auto per_sample) {
          constexpr bool kPerSample = decltype(per_sample)::value;
          dispatch_slice(l, [&](auto slice) {
            using Sl = typename decltype(slice)::type;
            grad_partial<Sl, A, T, Acc><<<l.grid, kThreads, 0, stream>>>(
                go, oo, yy, mu, shape, l.splits, p, part_g, part_gc);
            grad_apply<Sl, A, T, Acc, kPerSample><<<l.grid, kThreads, 0, stream>>>(
                go, oo, yy, static_cast<const Acc*>(gamma), mu, static_cast<const Acc*>(var),
                part_g, part_gc, static_cast<T*>(dy), static_cast<Acc*>(dgamma),
                static_cast<Acc*>(dbeta), shape, l.splits, p);
          });
          return cudaGetLastError();
        });
      } else {
        elementwise_backward<A, T, Acc><<<elementwise_blocks(total), kThreads, 0, stream>>>(
            go, oo, static_cast<T*>(dy), total, Acc(p.slope));
      }
      return cudaGetLastError();
    });
  });
}

}  // namespace cuda
}  // namespace pygan
