// Kernels of the CUDA passes of pygan::conv_transpose_bn_act, launched by
// conv_transpose_bn_act.cu (tests/cpp also runs them on a CPU emulation of
// CUDA). Training-mode batch norm splits each channel into slices, about
// kTargetBlocks blocks in all (one block per channel left most of an H100
// idle on DCGAN's 64-256 channels): of whole planes for NCHW (PlaneSlice),
// of rows x 32 channels for NHWC (ColumnSlice, coalesced along the
// channels). Forward: stats_partial reduces each slice to its mean and
// centred sum of squares; channel_apply combines a channel's slices (Chan et
// al.'s formula) and normalises + activates the same slice, which it reads
// back from L2. Backward: grad_partial sums g and g * (y - mean) per slice,
// grad_apply adds the slices' sums and writes dy. Eval mode and unnormalised
// blocks are elementwise grid-stride kernels (either layout: channel
// (i / hw) % c).
//
// Per-sample BN parameters ([samples, c], class-conditional batch norm) take
// the kernels' kPerSample instances (the per-channel ones are unchanged): the
// forward reads gamma and beta of each element's sample; the backward cuts
// each channel into one slice per sample (slice_launch's by_sample), so a
// block's partial sums are that sample's dgamma and dbeta, and grad_apply
// weights the slices' sums by gamma (bn_act.h's coefficients, gamma 1).
#pragma once

#include <cstdint>

#include "conv_transpose_bn_act.cuh"

namespace pygan {
namespace cuda {
namespace bn_act_kernels {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kTargetBlocks = 512;
constexpr int kColTile = 32;                      // channels a ColumnSlice block owns
constexpr int kRowPhases = kThreads / kColTile;   // its warps, each every 8th row

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

template <typename Acc>
__device__ __forceinline__ Acc param_or(const Acc* p, int64_t ch, Acc fallback) {
  return p == nullptr ? fallback : p[ch];
}

// Elements of slice k of a channel (whole planes, or rows when hw == 1):
// floor((k+1) n / splits) - floor(k n / splits) planes, from n's quotient and
// remainder (one 64-bit division per thread; splits <= kTargetBlocks, so the
// rest fits 32 bits).
struct SliceSizes {
  int64_t q;
  uint32_t rem;
  uint32_t splits;
  int64_t hw;

  __device__ SliceSizes(const BNActShape& s, int64_t n_splits)
      : q(s.n / n_splits), rem(uint32_t(s.n % n_splits)), splits(uint32_t(n_splits)), hw(s.hw) {}
  __device__ int64_t operator()(uint32_t k) const {
    return (q + ((k + 1) * rem) / splits - (k * rem) / splits) * hw;
  }
};

// The training-mode kernels work on slices of a channel, through one of two
// views. Each gives: ch, split, valid (the thread has a channel), elements(),
// each(f) (f(offset, row) for the thread's elements, row the element's
// index along n: its plane or pixel), reduce(v, shared) (the sum
// over the slice's threads, to every thread) and partial_writer() (the thread
// that writes the slice's partials, at [ch][split]).
//
// PlaneSlice (hw > 1: NCHW): block blockIdx.x is channel ch, planes
// [b0, b0 + count / hw); element li (< count) of the slice is at
// base + (li / hw) * plane + li % hw, the index math 32-bit.
struct PlaneSlice {
  int64_t ch;
  int64_t split;
  int64_t base;
  uint32_t count;
  uint32_t hw;
  int64_t plane;
  static constexpr bool valid = true;
  static constexpr int kstep = kThreads;  // the block's threads share the partials
  __device__ int k0() const { return threadIdx.x; }

  __device__ PlaneSlice(const BNActShape& s, int64_t splits) {
    ch = blockIdx.x / splits;
    split = blockIdx.x % splits;
    const int64_t b0 = split * s.n / splits, b1 = (split + 1) * s.n / splits;
    hw = uint32_t(s.hw);
    count = uint32_t((b1 - b0) * s.hw);
    plane = s.c * s.hw;
    base = b0 * plane + ch * s.hw;
    row0 = b0;
  }
  __device__ int64_t elements() const { return count; }
  int64_t row0;  // the slice's first plane
  template <typename F>
  __device__ void each(F&& f) const {  // f(offset, plane)
    for (uint32_t li = threadIdx.x; li < count; li += kThreads) {
      const uint32_t b = li / hw;
      f(base + int64_t(b) * plane + (li - b * hw), row0 + b);
    }
  }
  template <typename Acc>
  __device__ Acc reduce(Acc v, Acc* shared) const { return block_sum(v, shared); }
  __device__ bool partial_writer() const { return threadIdx.x == 0; }
};

// ColumnSlice (hw == 1: NHWC, or 1x1 planes, an [n, c] matrix whose columns
// are the channels): block (split, tile) owns kColTile adjacent channels (a
// warp's lanes, so a row's read is one coalesced segment) of rows [r0, r1),
// its warps taking every kRowPhases-th row.
struct ColumnSlice {
  int64_t ch;
  int64_t split;
  int64_t r0;
  int64_t r1;
  int64_t c;
  int phase;
  bool valid;
  static constexpr int kstep = kRowPhases;  // each channel's row phases share its partials
  __device__ int k0() const { return phase; }

  __device__ ColumnSlice(const BNActShape& s, int64_t splits) {
    ch = blockIdx.y * int64_t(kColTile) + threadIdx.x % kColTile;
    valid = ch < s.c;
    split = blockIdx.x;
    r0 = split * s.n / splits;
    r1 = (split + 1) * s.n / splits;
    c = s.c;
    phase = threadIdx.x / kColTile;
  }
  __device__ int64_t elements() const { return r1 - r0; }
  template <typename F>
  __device__ void each(F&& f) const {  // f(offset, row)
    if (!valid) return;
    for (int64_t r = r0 + phase; r < r1; r += kRowPhases) f(r * c + ch, r);
  }
  template <typename Acc>
  __device__ Acc reduce(Acc v, Acc* shared) const {  // over the row phases of each lane
    const int lane = threadIdx.x % kColTile;
    __syncthreads();  // `shared` may still be read by a previous call
    shared[threadIdx.x] = v;
    __syncthreads();
    Acc total = 0;
    for (int q = 0; q < kRowPhases; ++q) total += shared[q * kColTile + lane];
    return total;
  }
  __device__ bool partial_writer() const { return valid && phase == 0; }
};

// Slices per channel (about kTargetBlocks blocks in all, at most one per
// plane or row) and the grid, for the view the shape takes.
struct SliceLaunch {
  bool columns;
  int64_t splits;
  dim3 grid;
};

// by_sample: one slice per sample (per-sample parameters' backward), which
// for NCHW is one block per plane: many blocks on small planes, but each
// block's sums are then one sample's, with no reduction by sample within it.
inline SliceLaunch slice_launch(const BNActShape& s, bool by_sample = false) {
  const bool columns = s.hw == 1;
  const int64_t groups = columns ? (s.c + kColTile - 1) / kColTile : s.c;
  const int64_t want = (kTargetBlocks + groups - 1) / groups;
  const int64_t splits = by_sample ? s.n / s.rows_per_sample : want < s.n ? want : s.n;
  return {columns, splits,
          columns ? dim3(unsigned(splits), unsigned(groups)) : dim3(unsigned(groups * splits))};
}

template <typename T>
struct Tag {
  using type = T;
};

// f(Tag<PlaneSlice>) or f(Tag<ColumnSlice>).
template <typename F>
void dispatch_slice(const SliceLaunch& l, F&& f) {
  if (l.columns) f(Tag<ColumnSlice>{});
  else f(Tag<PlaneSlice>{});
}

// A channel's batch mean and biased variance from its slices' (count, mean,
// M2) by Chan et al.'s formula, over part_mean/part_m2 [c][splits]. The
// threads of a channel share the loop (sl.k0(), step sl.kstep) and add up
// through sl.reduce: every thread of the block must call it.
template <typename Acc>
struct MeanVar {
  Acc mean;
  Acc var;
};

template <typename Sl, typename Acc>
__device__ MeanVar<Acc> combine_slices(const Sl& sl, const Acc* part_mean, const Acc* part_m2,
                                       const BNActShape& s, int64_t splits, Acc* shared) {
  const SliceSizes size(s, splits);
  const Acc m = Acc(s.n * s.hw);
  const Acc* pm = part_mean + sl.ch * splits;
  const Acc* p2 = part_m2 + sl.ch * splits;
  Acc mu = 0;
  if (sl.valid)
    for (int64_t k = sl.k0(); k < splits; k += Sl::kstep) mu += Acc(size(uint32_t(k))) * pm[k];
  mu = sl.reduce(mu, shared) / m;
  Acc m2 = 0;
  if (sl.valid)
    for (int64_t k = sl.k0(); k < splits; k += Sl::kstep) {
      const Acc d = pm[k] - mu;
      m2 += p2[k] + Acc(size(uint32_t(k))) * d * d;
    }
  return {mu, sl.reduce(m2, shared) / m};
}

template <typename Sl, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    stats_partial(const T* __restrict__ y, BNActShape s, int64_t splits, Acc* part_mean,
                  Acc* part_m2) {
  __shared__ Acc shared[kThreads];
  const Sl sl(s, splits);
  Acc sum = 0;
  sl.each([&](int64_t o, int64_t) { sum += to_acc(y[o]); });
  const Acc mu = sl.reduce(sum, shared) / Acc(sl.elements());
  Acc sq = 0;  // around the slice's own mean: the second pass reads from L1/L2
  sl.each([&](int64_t o, int64_t) {
    const Acc d = to_acc(y[o]) - mu;
    sq += d * d;
  });
  sq = sl.reduce(sq, shared);
  if (sl.partial_writer()) {
    part_mean[sl.ch * splits + sl.split] = mu;
    part_m2[sl.ch * splits + sl.split] = sq;
  }
}

// The per-sample parameters' index of (row, ch); rows < 2^32 when
// normalising (the launchers check), so the division is 32-bit.
__device__ __forceinline__ int64_t sample_param(const BNActShape& s, int64_t row, int64_t ch) {
  return int64_t(uint32_t(row) / uint32_t(s.rows_per_sample)) * s.c + ch;
}

// Training mode: the channel's statistics (written to mean/var by slice 0,
// which also updates the running statistics when given), then
// out = act(bn(y)) over this block's slice.
template <typename Sl, Act A, typename T, typename Acc, bool kPerSample = false>
__global__ void __launch_bounds__(kThreads)
    channel_apply(const T* __restrict__ y, T* __restrict__ out, const Acc* gamma,
                  const Acc* beta, Acc* mean, Acc* var, Acc* running_mean, Acc* running_var,
                  const Acc* part_mean, const Acc* part_m2, BNActShape s, int64_t splits,
                  BNActParams p) {
  __shared__ Acc shared[kThreads];
  const Sl sl(s, splits);
  const MeanVar<Acc> mv = combine_slices(sl, part_mean, part_m2, s, splits, shared);
  if (!sl.valid) return;  // no barrier below
  if (sl.split == 0 && sl.partial_writer()) {
    mean[sl.ch] = mv.mean;
    var[sl.ch] = mv.var;
    if (running_mean != nullptr)
      update_running_stats(running_mean[sl.ch], running_var[sl.ch], mv.mean, mv.var,
                           Acc(p.momentum), s.n * s.hw);
  }
  const Acc invstd = bn_invstd(mv.var, Acc(p.eps));
  if constexpr (kPerSample) {
    sl.each([&](int64_t o, int64_t row) {
      const int64_t i = sample_param(s, row, sl.ch);
      const auto ss = bn_fold(mv.mean, invstd, gamma[i], beta[i]);
      out[o] = from_acc<T, Acc>(act_forward(A, to_acc(y[o]) * ss.scale + ss.shift, Acc(p.slope)));
    });
    return;
  }
  const auto ss = bn_fold(mv.mean, invstd, param_or(gamma, sl.ch, Acc(1)),
                          param_or(beta, sl.ch, Acc(0)));
  sl.each([&](int64_t o, int64_t) {
    out[o] = from_acc<T, Acc>(act_forward(A, to_acc(y[o]) * ss.scale + ss.shift, Acc(p.slope)));
  });
}

template <Act A, typename T, typename Acc, bool kPerSample = false>
__global__ void elementwise_forward(const T* y, T* out, const Acc* gamma, const Acc* beta,
                                    const Acc* mean, const Acc* var, BNActShape s,
                                    BNActParams p) {
  const int64_t total = s.n * s.c * s.hw;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    Acc pre = to_acc(y[i]);
    if (p.normalize) {
      const int64_t ch = (i / s.hw) % s.c;
      const int64_t pi = kPerSample ? sample_param(s, i / (s.c * s.hw), ch) : ch;
      const auto ss = bn_fold(mean[ch], bn_invstd(var[ch], Acc(p.eps)),
                              param_or(gamma, pi, Acc(1)), param_or(beta, pi, Acc(0)));
      pre = pre * ss.scale + ss.shift;
    }
    out[i] = from_acc<T, Acc>(act_forward(A, pre, Acc(p.slope)));
  }
}

template <typename Sl, Act A, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    grad_partial(const T* __restrict__ dout, const T* __restrict__ out,
                 const T* __restrict__ y, const Acc* mean, BNActShape s, int64_t splits,
                 BNActParams p, Acc* part_g, Acc* part_gc) {
  __shared__ Acc shared[kThreads];
  const Sl sl(s, splits);
  const Acc mu = sl.valid ? mean[sl.ch] : Acc(0), slope = Acc(p.slope);
  Acc sg = 0, sgc = 0;
  sl.each([&](int64_t o, int64_t) {
    const Acc g = to_acc(dout[o]) * act_grad_from_out(A, to_acc(out[o]), slope);
    sg += g;
    sgc += g * (to_acc(y[o]) - mu);
  });
  sg = sl.reduce(sg, shared);
  sgc = sl.reduce(sgc, shared);
  if (sl.partial_writer()) {
    part_g[sl.ch * splits + sl.split] = sg;
    part_gc[sl.ch * splits + sl.split] = sgc;
  }
}

// kPerSample: the slices are the samples (slice_launch's by_sample), gamma
// [samples, c]; dgamma and dbeta get each slice's own sums, and the
// channel's sums are weighted by gamma (see conv_transpose_bn_act.cpp's
// per_sample_backward for the math).
template <typename Sl, Act A, typename T, typename Acc, bool kPerSample = false>
__global__ void __launch_bounds__(kThreads)
    grad_apply(const T* __restrict__ dout, const T* __restrict__ out, const T* __restrict__ y,
               const Acc* gamma, const Acc* mean, const Acc* var, const Acc* part_g,
               const Acc* part_gc, T* __restrict__ dy, Acc* dgamma, Acc* dbeta, BNActShape s,
               int64_t splits, BNActParams p) {
  __shared__ Acc shared[kThreads];
  const Sl sl(s, splits);
  Acc sg = 0, sgc = 0;  // the slices' sums, shared out as in combine_slices
  if (sl.valid)
    for (int64_t k = sl.k0(); k < splits; k += Sl::kstep) {
      const Acc w = kPerSample ? gamma[k * s.c + sl.ch] : Acc(1);
      sg += w * part_g[sl.ch * splits + k];
      sgc += w * part_gc[sl.ch * splits + k];
    }
  sg = sl.reduce(sg, shared);
  sgc = sl.reduce(sgc, shared);
  if (!sl.valid) return;  // no barrier below
  const Acc mu = mean[sl.ch], invstd = bn_invstd(var[sl.ch], Acc(p.eps)), slope = Acc(p.slope);
  auto k = bn_grad_coeffs(kPerSample ? Acc(1) : param_or(gamma, sl.ch, Acc(1)), invstd, sg, sgc,
                          s.n * s.hw, p.training);
  if constexpr (kPerSample) {
    const int64_t own = sl.ch * splits + sl.split, i = sl.split * s.c + sl.ch;
    if (sl.partial_writer()) {
      dgamma[i] = part_gc[own] * invstd;
      dbeta[i] = part_g[own];
    }
    k.k = gamma[i] * invstd;
  } else if (sl.split == 0 && sl.partial_writer()) {
    dgamma[sl.ch] = sgc * invstd;
    dbeta[sl.ch] = sg;
  }
  sl.each([&](int64_t o, int64_t) {
    const Acc g = to_acc(dout[o]) * act_grad_from_out(A, to_acc(out[o]), slope);
    dy[o] = from_acc<T, Acc>(k.k * g + k.c1 * (to_acc(y[o]) - mu) + k.c0);
  });
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

inline unsigned elementwise_blocks(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

}  // namespace bn_act_kernels
}  // namespace cuda
}  // namespace pygan
