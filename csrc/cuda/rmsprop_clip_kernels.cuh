// Kernel of pygan::rmsprop_clip_ (a multi-tensor apply) and how it groups
// tensors into launches; rmsprop_clip.cu launches it (tests/cpp also runs it
// on a CPU emulation of CUDA). The pointers and sizes of up to kMaxTensors
// tensors travel in the kernel's arguments; every block updates one chunk of
// one tensor, so a whole optimizer step over a critic's parameter list is one
// launch. Elements go through the same rmsprop_clip_update as on the CPU,
// with 4-element vector loads when every pointer of a tensor is aligned for
// them.
#pragma once

#include <cstdint>

#include "rmsprop_clip.cuh"

namespace pygan {
namespace cuda {
namespace rmsprop_kernels {

constexpr int kMaxTensors = 48;  // keeps Meta (~2.6 KB) inside the 4 KB argument limit
constexpr int kThreads = 256;
constexpr int kVec = 4;
constexpr int64_t kChunk = int64_t(kThreads) * kVec * 8;  // elements per block

struct Meta {
  void* param[kMaxTensors];
  const void* grad[kMaxTensors];
  void* square_avg[kMaxTensors];
  void* momentum_buf[kMaxTensors];
  void* grad_avg[kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t first_chunk[kMaxTensors + 1];  // prefix sums of chunks per tensor
  bool vectorized[kMaxTensors];
  int n;
};

template <typename T>
struct alignas(sizeof(T) * kVec) Vec {
  T v[kVec];
};

template <typename scalar_t, typename acc_t>
__device__ __forceinline__ scalar_t store_value(acc_t x) {
  if constexpr (sizeof(acc_t) == 8) return x;  // double params: double math
  else return from_acc<scalar_t, acc_t>(x);
}

template <bool kCentered, bool kMomentum, bool kClip, typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    rmsprop_clip_kernel(const __grid_constant__ Meta meta, const RMSpropClipHyper<acc_t> h) {
  const int64_t chunk = blockIdx.x;
  int t = 0;  // the tensor this chunk belongs to; n <= kMaxTensors, so a scan is cheap
  while (meta.first_chunk[t + 1] <= chunk) ++t;
  const int64_t begin = (chunk - meta.first_chunk[t]) * kChunk;
  const int64_t end = min(begin + kChunk, meta.numel[t]);
  scalar_t* __restrict__ p = static_cast<scalar_t*>(meta.param[t]);
  const scalar_t* __restrict__ g = static_cast<const scalar_t*>(meta.grad[t]);
  acc_t* __restrict__ sq = static_cast<acc_t*>(meta.square_avg[t]);
  acc_t* __restrict__ mom = static_cast<acc_t*>(meta.momentum_buf[t]);
  acc_t* __restrict__ gavg = static_cast<acc_t*>(meta.grad_avg[t]);
  acc_t unused_mom = 0, unused_gavg = 0;

  int64_t scalar_begin = begin;
  if (meta.vectorized[t]) {
    // begin is a multiple of kVec (kChunk is), so vector i covers [kVec*i, kVec*i + kVec).
    const int64_t vec_end = begin + (end - begin) / kVec * kVec;
    for (int64_t i = begin + int64_t(threadIdx.x) * kVec; i < vec_end; i += kThreads * kVec) {
      Vec<scalar_t> pv = *reinterpret_cast<const Vec<scalar_t>*>(p + i);
      const Vec<scalar_t> gv = *reinterpret_cast<const Vec<scalar_t>*>(g + i);
      Vec<acc_t> sv = *reinterpret_cast<const Vec<acc_t>*>(sq + i);
      Vec<acc_t> mv, av;
      if constexpr (kMomentum) mv = *reinterpret_cast<const Vec<acc_t>*>(mom + i);
      if constexpr (kCentered) av = *reinterpret_cast<const Vec<acc_t>*>(gavg + i);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        acc_t x = to_acc(pv.v[k]);
        rmsprop_clip_update<kCentered, kMomentum, kClip>(
            x, to_acc(gv.v[k]), sv.v[k], kMomentum ? mv.v[k] : unused_mom,
            kCentered ? av.v[k] : unused_gavg, h);
        pv.v[k] = store_value<scalar_t>(x);
      }
      *reinterpret_cast<Vec<scalar_t>*>(p + i) = pv;
      *reinterpret_cast<Vec<acc_t>*>(sq + i) = sv;
      if constexpr (kMomentum) *reinterpret_cast<Vec<acc_t>*>(mom + i) = mv;
      if constexpr (kCentered) *reinterpret_cast<Vec<acc_t>*>(gavg + i) = av;
    }
    scalar_begin = vec_end;
  }
  for (int64_t i = scalar_begin + threadIdx.x; i < end; i += kThreads) {
    acc_t x = to_acc(p[i]);
    rmsprop_clip_update<kCentered, kMomentum, kClip>(
        x, to_acc(g[i]), sq[i], kMomentum ? mom[i] : unused_mom,
        kCentered ? gavg[i] : unused_gavg, h);
    p[i] = store_value<scalar_t>(x);
  }
}

inline bool aligned(const void* ptr, size_t bytes) {
  return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

// Fills a Meta with up to kMaxTensors of the n tensors at a time (empty ones
// skipped) and calls launch(meta, blocks) for each; the first error stops it.
template <typename scalar_t, typename acc_t, typename Launch>
cudaError_t launch_groups(const RMSpropClipTensor* tensors, int64_t n, Launch launch) {
  Meta meta{};
  auto flush = [&]() -> cudaError_t {
    if (meta.n == 0) return cudaSuccess;
    const int64_t blocks = meta.first_chunk[meta.n];
    if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
    const cudaError_t err = launch(meta, blocks);
    meta.n = 0;
    return err;
  };
  for (int64_t i = 0; i < n; ++i) {
    const RMSpropClipTensor& t = tensors[i];
    if (t.numel == 0) continue;
    const int k = meta.n;
    meta.param[k] = t.param;
    meta.grad[k] = t.grad;
    meta.square_avg[k] = t.square_avg;
    meta.momentum_buf[k] = t.momentum_buf;
    meta.grad_avg[k] = t.grad_avg;
    meta.numel[k] = t.numel;
    meta.vectorized[k] = aligned(t.param, sizeof(Vec<scalar_t>)) &&
                         aligned(t.grad, sizeof(Vec<scalar_t>)) &&
                         aligned(t.square_avg, sizeof(Vec<acc_t>)) &&
                         aligned(t.momentum_buf, sizeof(Vec<acc_t>)) &&
                         aligned(t.grad_avg, sizeof(Vec<acc_t>));
    meta.first_chunk[k + 1] = meta.first_chunk[k] + (t.numel + kChunk - 1) / kChunk;
    meta.n = k + 1;
    if (meta.n == kMaxTensors) {
      const cudaError_t err = flush();
      if (err != cudaSuccess) return err;
    }
  }
  return flush();
}

}  // namespace rmsprop_kernels
}  // namespace cuda
}  // namespace pygan
