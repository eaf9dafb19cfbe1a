// CUDA passes of pygan::conv_transpose_bn_act. Training-mode batch norm runs
// one block per channel: the block reduces the channel's statistics, then
// normalises and activates it while the channel (a few hundred KB for DCGAN
// shapes) is still in L2, so the output costs one read of y and one write.
// The backward reduces sum(g) and sum(g * (y - mean)) and writes dy the same
// way. Eval mode and unnormalised blocks are elementwise grid-stride kernels.
#include <cuda_runtime.h>

#include "conv_transpose_bn_act.cuh"

namespace pygan {
namespace cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

// Sum over the block, returned to every thread. `shared` holds kWarps values.
template <typename Acc>
__device__ Acc block_sum(Acc v, Acc* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < kWarps ? shared[lane] : Acc(0);
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Offset of the i-th element (of n * hw) of channel ch.
__device__ __forceinline__ int64_t channel_offset(int64_t i, int64_t ch, BNActShape s) {
  return (i / s.hw) * s.c * s.hw + ch * s.hw + i % s.hw;
}

template <typename Acc>
__device__ __forceinline__ Acc param_or(const Acc* p, int64_t ch, Acc fallback) {
  return p == nullptr ? fallback : p[ch];
}

template <Act A, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    channel_forward(const T* __restrict__ y, T* __restrict__ out, const Acc* gamma,
                    const Acc* beta, Acc* mean, Acc* var, BNActShape s, BNActParams p) {
  __shared__ Acc shared[kWarps];
  const int64_t ch = blockIdx.x, m = s.n * s.hw;
  Acc mu, v;
  if (p.training) {
    Acc sum = 0;
    for (int64_t i = threadIdx.x; i < m; i += kThreads) sum += to_acc(y[channel_offset(i, ch, s)]);
    mu = block_sum(sum, shared) / Acc(m);
    Acc sq = 0;
    for (int64_t i = threadIdx.x; i < m; i += kThreads) {
      const Acc d = to_acc(y[channel_offset(i, ch, s)]) - mu;
      sq += d * d;
    }
    v = block_sum(sq, shared) / Acc(m);
    if (threadIdx.x == 0) {
      mean[ch] = mu;
      var[ch] = v;
    }
  } else {
    mu = mean[ch];
    v = var[ch];
  }
  const auto ss = bn_fold(mu, bn_invstd(v, Acc(p.eps)), param_or(gamma, ch, Acc(1)),
                          param_or(beta, ch, Acc(0)));
  for (int64_t i = threadIdx.x; i < m; i += kThreads) {
    const int64_t o = channel_offset(i, ch, s);
    out[o] = from_acc<T, Acc>(act_forward(A, to_acc(y[o]) * ss.scale + ss.shift, Acc(p.slope)));
  }
}

// Eval-mode batch norm (running statistics) or none, then the activation.
template <Act A, typename T, typename Acc>
__global__ void elementwise_forward(const T* y, T* out, const Acc* gamma, const Acc* beta,
                                    const Acc* mean, const Acc* var, BNActShape s,
                                    BNActParams p) {
  const int64_t total = s.n * s.c * s.hw;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    Acc pre = to_acc(y[i]);
    if (p.normalize) {
      const int64_t ch = (i / s.hw) % s.c;
      const auto ss = bn_fold(mean[ch], bn_invstd(var[ch], Acc(p.eps)),
                              param_or(gamma, ch, Acc(1)), param_or(beta, ch, Acc(0)));
      pre = pre * ss.scale + ss.shift;
    }
    out[i] = from_acc<T, Acc>(act_forward(A, pre, Acc(p.slope)));
  }
}

template <Act A, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    channel_backward(const T* __restrict__ dout, const T* __restrict__ out,
                     const T* __restrict__ y, const Acc* gamma, const Acc* mean, const Acc* var,
                     T* __restrict__ dy, Acc* dgamma, Acc* dbeta, BNActShape s, BNActParams p) {
  __shared__ Acc shared[kWarps];
  const int64_t ch = blockIdx.x, m = s.n * s.hw;
  const Acc mu = mean[ch], invstd = bn_invstd(var[ch], Acc(p.eps)), slope = Acc(p.slope);
  Acc sg = 0, sgc = 0;
  for (int64_t i = threadIdx.x; i < m; i += kThreads) {
    const int64_t o = channel_offset(i, ch, s);
    const Acc g = to_acc(dout[o]) * act_grad_from_out(A, to_acc(out[o]), slope);
    sg += g;
    sgc += g * (to_acc(y[o]) - mu);
  }
  sg = block_sum(sg, shared);
  sgc = block_sum(sgc, shared);
  if (threadIdx.x == 0) {
    dgamma[ch] = sgc * invstd;
    dbeta[ch] = sg;
  }
  const auto k = bn_grad_coeffs(param_or(gamma, ch, Acc(1)), invstd, sg, sgc, m, p.training);
  for (int64_t i = threadIdx.x; i < m; i += kThreads) {
    const int64_t o = channel_offset(i, ch, s);
    const Acc g = to_acc(dout[o]) * act_grad_from_out(A, to_acc(out[o]), slope);
    dy[o] = from_acc<T, Acc>(k.k * g + k.c1 * (to_acc(y[o]) - mu) + k.c0);
  }
}

template <Act A, typename T, typename Acc>
__global__ void elementwise_backward(const T* dout, const T* out, T* dy, int64_t total,
                                     Acc slope) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    dy[i] = from_acc<T, Acc>(to_acc(dout[i]) * act_grad_from_out(A, to_acc(out[i]), slope));
}

template <typename F>
cudaError_t dispatch_act(Act act, F&& f) {
  switch (act) {
    case Act::kRelu: return f(std::integral_constant<Act, Act::kRelu>{});
    case Act::kLeakyRelu: return f(std::integral_constant<Act, Act::kLeakyRelu>{});
    case Act::kTanh: return f(std::integral_constant<Act, Act::kTanh>{});
    case Act::kNone: return f(std::integral_constant<Act, Act::kNone>{});
  }
  return cudaErrorInvalidValue;
}

unsigned elementwise_blocks(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

}  // namespace

cudaError_t bn_act_forward_launch(Dtype dtype, const void* y, void* out, const void* gamma,
                                  const void* beta, void* mean, void* var, BNActShape shape,
                                  BNActParams p, cudaStream_t stream) {
  if (shape.n * shape.c * shape.hw == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    using Acc = decltype(acc);
    return dispatch_act(p.act, [&](auto tag) {
      constexpr Act A = decltype(tag)::value;
      const auto* yy = static_cast<const T*>(y);
      auto* oo = static_cast<T*>(out);
      const auto* g = static_cast<const Acc*>(gamma);
      const auto* b = static_cast<const Acc*>(beta);
      if (p.normalize && p.training) {
        channel_forward<A, T, Acc><<<static_cast<unsigned>(shape.c), kThreads, 0, stream>>>(
            yy, oo, g, b, static_cast<Acc*>(mean), static_cast<Acc*>(var), shape, p);
      } else {
        elementwise_forward<A, T, Acc>
            <<<elementwise_blocks(shape.n * shape.c * shape.hw), kThreads, 0, stream>>>(
                yy, oo, g, b, static_cast<const Acc*>(mean), static_cast<const Acc*>(var),
                shape, p);
      }
      return cudaGetLastError();
    });
  });
}

cudaError_t bn_act_backward_launch(Dtype dtype, const void* dout, const void* out, const void* y,
                                   const void* gamma, const void* mean, const void* var,
                                   void* dy, void* dgamma, void* dbeta, BNActShape shape,
                                   BNActParams p, cudaStream_t stream) {
  const int64_t total = shape.n * shape.c * shape.hw;
  if (total == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    using Acc = decltype(acc);
    return dispatch_act(p.act, [&](auto tag) {
      constexpr Act A = decltype(tag)::value;
      const auto* go = static_cast<const T*>(dout);
      const auto* oo = static_cast<const T*>(out);
      if (p.normalize) {
        channel_backward<A, T, Acc><<<static_cast<unsigned>(shape.c), kThreads, 0, stream>>>(
            go, oo, static_cast<const T*>(y), static_cast<const Acc*>(gamma),
            static_cast<const Acc*>(mean), static_cast<const Acc*>(var), static_cast<T*>(dy),
            static_cast<Acc*>(dgamma), static_cast<Acc*>(dbeta), shape, p);
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
