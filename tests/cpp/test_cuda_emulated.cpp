// conv_transpose_bn_act's CUDA kernels, run on the CPU emulation of CUDA
// (cuda_emulation.h) in double precision and launched as the .cu files
// launch them, against direct computations:
//  * the batch-norm + activation passes: both layouts (NCHW planes, NHWC
//    columns), slices of uneven sizes, channel tiles cut short, training and
//    eval mode, no normalisation, per-channel and per-sample ([n, c]) BN
//    parameters;
//  * the GEMM route's col2im and im2col: random geometries, grids small
//    enough that the kernels' stride loops run;
//  * rmsprop_clip_'s multi-tensor kernel: tensors grouped into launches,
//    chunks, vector and scalar (misaligned) paths, against the update
//    applied element by element.
// The pytest suite runs the real kernels where a GPU is present.
#include "cuda_emulation.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

#include "expect.h"

namespace pygan {
namespace cuda {  // dtype.cuh's conversions, for the float and double instances
inline float to_acc(float x) { return x; }
inline double to_acc(double x) { return x; }
template <typename T, typename Acc>
inline T from_acc(Acc x) {
  return T(x);
}
}  // namespace cuda
}  // namespace pygan

#include "cuda/col2im_kernels.cuh"
#include "cuda/conv_transpose_bn_act_kernels.cuh"
#include "cuda/rmsprop_clip_kernels.cuh"

using namespace pygan;
using namespace pygan::cuda;
using namespace pygan::cuda::bn_act_kernels;
using namespace pygan::cuda::col2im_kernels;
using namespace pygan::cuda::rmsprop_kernels;
using Values = std::vector<double>;

static double act(Act a, double x, double slope) {
  if (a == Act::kRelu) return x > 0 ? x : 0;
  if (a == Act::kLeakyRelu) return x > 0 ? x : slope * x;
  return a == Act::kTanh ? std::tanh(x) : x;
}

static double act_grad(Act a, double out, double slope) {
  if (a == Act::kRelu) return out > 0 ? 1 : 0;
  if (a == Act::kLeakyRelu) return out > 0 ? 1 : slope;
  return a == Act::kTanh ? 1 - out * out : 1;
}

static bool close(const Values& a, const Values& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= 1e-10 * (1 + std::fabs(b[i])))) return false;
  return true;
}

// One block's batch-norm forward and backward for activations of n images,
// c channels, hw pixels, stored NCHW or NHWC; gamma and beta per channel
// [c] or per sample [n, c].
struct Case {
  int64_t n, c, hw;
  bool nhwc;
  BNActParams p;
  bool per_sample = false;
};

template <Act A>
static void run_case(emulation::Device& dev, const Case& k, std::mt19937& rng) {
  const int64_t n = k.n, c = k.c, hw = k.hw, total = n * c * hw, m = n * hw;
  const int64_t samples = k.per_sample ? n : 1, rows_per_sample = k.nhwc ? hw : 1;
  const BNActShape s = k.nhwc ? BNActShape{n * hw, c, 1, k.per_sample ? rows_per_sample : 0}
                              : BNActShape{n, c, hw, k.per_sample ? rows_per_sample : 0};
  const auto at = [&](int64_t b, int64_t ch, int64_t q) {
    return k.nhwc ? (b * hw + q) * c + ch : (b * c + ch) * hw + q;
  };
  const auto gi = [&](int64_t b, int64_t ch) { return k.per_sample ? b * c + ch : ch; };
  std::normal_distribution<double> normal;
  Values y(total), dout(total), gamma(samples * c), beta(samples * c), mean(c), var(c);
  for (auto& v : y) v = 3 + 2 * normal(rng);  // off-centre, as convolution outputs are
  for (auto& v : dout) v = normal(rng);
  for (auto& v : gamma) v = 1 + 0.3 * normal(rng);
  for (auto& v : beta) v = normal(rng);
  for (int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = normal(rng);  // running statistics for eval mode
    var[ch] = 1 + std::fabs(normal(rng));
  }
  // The reference: batch norm's gradient written directly, dxhat = g * gamma
  // and dy = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) in
  // training mode, dxhat * invstd in eval mode; dgamma and dbeta summed over
  // each sample's planes when per sample.
  Values r_mean = mean, r_var = var, r_out(total), r_dy(total), r_dg(samples * c, 0),
         r_db(samples * c, 0);
  Values r_run_mean = mean, r_run_var = var;
  for (int64_t ch = 0; ch < c; ++ch) {
    if (k.p.normalize && k.p.training) {
      double mu = 0, v = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t q = 0; q < hw; ++q) mu += y[at(b, ch, q)];
      mu /= double(m);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t q = 0; q < hw; ++q) v += (y[at(b, ch, q)] - mu) * (y[at(b, ch, q)] - mu);
      r_mean[ch] = mu;
      r_var[ch] = v / double(m);
      r_run_mean[ch] = (1 - k.p.momentum) * mean[ch] + k.p.momentum * mu;
      r_run_var[ch] = (1 - k.p.momentum) * var[ch] + k.p.momentum * v / double(m - 1);
    }
    const double invstd = 1 / std::sqrt(r_var[ch] + k.p.eps);
    double mean_dxhat = 0, mean_dxhat_xhat = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t q = 0; q < hw; ++q) {
        const int64_t o = at(b, ch, q);
        const double xhat = (y[o] - r_mean[ch]) * invstd;
        const double pre = k.p.normalize ? xhat * gamma[gi(b, ch)] + beta[gi(b, ch)] : y[o];
        r_out[o] = act(A, pre, k.p.slope);
        const double g = dout[o] * act_grad(A, r_out[o], k.p.slope);
        r_dg[gi(b, ch)] += g * xhat;
        r_db[gi(b, ch)] += g;
        mean_dxhat += g * gamma[gi(b, ch)] / double(m);
        mean_dxhat_xhat += g * gamma[gi(b, ch)] * xhat / double(m);
      }
    for (int64_t b = 0; b < n; ++b)
      for (int64_t q = 0; q < hw; ++q) {
        const int64_t o = at(b, ch, q);
        const double g = dout[o] * act_grad(A, r_out[o], k.p.slope);
        const double xhat = (y[o] - r_mean[ch]) * invstd, dxhat = g * gamma[gi(b, ch)];
        r_dy[o] = !k.p.normalize ? g
                  : k.p.training ? invstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)
                                 : invstd * dxhat;
      }
  }
  // The kernels, launched as bn_act_forward_launch / bn_act_backward_launch do.
  const SliceLaunch l = slice_launch(s), lb = slice_launch(s, k.per_sample);
  const int64_t most = l.splits > lb.splits ? l.splits : lb.splits;
  Values part(2 * c * most, NAN), out(total, NAN), dy(total, NAN), dg(samples * c, NAN),
      db(samples * c, NAN);
  Values run_mean = mean, run_var = var;  // the running statistics, updated in training mode
  double *pa = part.data(), *pb = pa + c * l.splits, *pgc = pa + c * lb.splits;
  const auto per_sample = [&](auto f) {
    if (k.per_sample) f(std::true_type{});
    else f(std::false_type{});
  };
  const unsigned blocks = elementwise_blocks(total);
  per_sample([&](auto tag) {
    constexpr bool kPerSample = decltype(tag)::value;
    if (k.p.normalize && k.p.training) {
      dispatch_slice(l, [&](auto slice) {
        using Sl = typename decltype(slice)::type;
        dev.launch(l.grid,
                   [&] { stats_partial<Sl, double, double>(y.data(), s, l.splits, pa, pb); });
        dev.launch(l.grid, [&] {
          channel_apply<Sl, A, double, double, kPerSample>(
              y.data(), out.data(), gamma.data(), beta.data(), mean.data(), var.data(),
              run_mean.data(), run_var.data(), pa, pb, s, l.splits, k.p);
        });
      });
    } else {
      dev.launch(dim3(blocks), [&] {
        elementwise_forward<A, double, double, kPerSample>(
            y.data(), out.data(), gamma.data(), beta.data(), mean.data(), var.data(), s, k.p);
      });
    }
    if (!k.p.normalize) return;
    dispatch_slice(lb, [&](auto slice) {  // the backward's slices: one a sample when per sample
      using Sl = typename decltype(slice)::type;
      dev.launch(lb.grid, [&] {
        grad_partial<Sl, A, double, double>(dout.data(), out.data(), y.data(), mean.data(), s,
                                            lb.splits, k.p, pa, pgc);
      });
      dev.launch(lb.grid, [&] {
        grad_apply<Sl, A, double, double, kPerSample>(
            dout.data(), out.data(), y.data(), gamma.data(), mean.data(), var.data(), pa, pgc,
            dy.data(), dg.data(), db.data(), s, lb.splits, k.p);
      });
    });
  });
  if (!k.p.normalize) {
    dev.launch(dim3(blocks), [&] {
      elementwise_backward<A, double, double>(dout.data(), out.data(), dy.data(), total,
                                              k.p.slope);
    });
  }
  const bool ok = close(out, r_out) && close(dy, r_dy) &&
                  (!k.p.normalize || (close(mean, r_mean) && close(var, r_var) &&
                                      close(dg, r_dg) && close(db, r_db))) &&
                  close(run_mean, r_run_mean) && close(run_var, r_run_var);
  std::printf("  n %ld c %ld hw %ld %s act %d normalize %d training %d per-sample %d: "
              "%ld/%ld slices, %s\n", long(n), long(c), long(hw), k.nhwc ? "nhwc" : "nchw",
              int(A), int(k.p.normalize), int(k.p.training), int(k.per_sample), long(l.splits),
              long(lb.splits), ok ? "ok" : "MISMATCH");
  EXPECT(ok);
}

static void batch_norm_passes(emulation::Device& dev) {
  std::mt19937 rng(3);
  // (n, c, hw): slices of 1 plane or row and uneven ones, channel tiles of
  // 32 cut short (c = 33, 70), a single image.
  const int64_t shapes[][3] = {{2, 3, 5}, {3, 70, 9}, {1, 33, 7}, {20, 8, 1}, {5, 9, 12}};
  for (const auto& sh : shapes)
    for (bool nhwc : {false, true}) {
      const BNActParams p{true, true, 1e-5, Act::kLeakyRelu, 0.2, /*momentum=*/0.1};
      const Case train{sh[0], sh[1], sh[2], nhwc, p};
      run_case<Act::kLeakyRelu>(dev, train, rng);
    }
  const Case relu_train{4, 40, 6, true, {true, true, 1e-3, Act::kRelu, 0, 0.7}};
  run_case<Act::kRelu>(dev, relu_train, rng);
  const Case tanh_eval{3, 5, 7, false, {true, false, 1e-5, Act::kTanh, 0}};
  run_case<Act::kTanh>(dev, tanh_eval, rng);
  const Case eval_nhwc{3, 40, 4, true, {true, false, 1e-5, Act::kLeakyRelu, 0.1}};
  run_case<Act::kLeakyRelu>(dev, eval_nhwc, rng);
  const Case plain{2, 3, 25, false, {false, true, 1e-5, Act::kTanh, 0}};
  run_case<Act::kTanh>(dev, plain, rng);
  // Per-sample gamma and beta [n, c] (class-conditional batch norm): both
  // layouts, training and eval, the backward's one slice per sample.
  for (const auto& sh : shapes)
    for (bool nhwc : {false, true}) {
      const BNActParams p{true, true, 1e-5, Act::kLeakyRelu, 0.2, /*momentum=*/0.1};
      run_case<Act::kLeakyRelu>(dev, Case{sh[0], sh[1], sh[2], nhwc, p, true}, rng);
    }
  run_case<Act::kRelu>(dev, Case{4, 40, 6, true, {true, true, 1e-3, Act::kRelu, 0, 0.7}, true},
                       rng);
  run_case<Act::kTanh>(dev, Case{3, 5, 7, false, {true, false, 1e-5, Act::kTanh, 0}, true}, rng);
  run_case<Act::kNone>(dev, Case{3, 40, 4, true, {true, false, 1e-5, Act::kNone, 0}, true}, rng);
  run_case<Act::kNone>(dev, Case{6, 3, 4, false, {true, true, 1e-5, Act::kNone, 0, 0.1}, true},
                       rng);
}

// col2im against a scatter-add of cols, im2col against a scatter of dy;
// images NHWC and NCHW in turn.
static void col2im_passes(emulation::Device& dev) {
  std::mt19937 rng(5);
  const auto draw = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  while (cases < 60) {
    Col2imShape s;
    s.kh = draw(1, 5), s.kw = draw(1, 5), s.sh = draw(1, 3), s.sw = draw(1, 3);
    s.ph = draw(0, int(s.kh) - 1), s.pw = draw(0, int(s.kw) - 1);
    s.n = draw(1, 3), s.h = draw(1, 6), s.w = draw(1, 6), s.c = draw(1, 40);
    s.oh = (s.h - 1) * s.sh - 2 * s.ph + s.kh + draw(0, int(s.sh) - 1);
    s.ow = (s.w - 1) * s.sw - 2 * s.pw + s.kw + draw(0, int(s.sw) - 1);
    if (s.oh < 1 || s.ow < 1) continue;
    const bool nhwc = ++cases % 2;
    const auto image = [&](int64_t b, int64_t y, int64_t x, int64_t ch) {
      return nhwc ? ((b * s.oh + y) * s.ow + x) * s.c + ch
                  : ((b * s.c + ch) * s.oh + y) * s.ow + x;
    };
    const int64_t taps = s.kh * s.kw * s.c, in_px = s.n * s.h * s.w, out_px = s.n * s.oh * s.ow;
    Values cols(in_px * taps), bias(s.c), dy(out_px * s.c);
    for (auto* v : {&cols, &bias, &dy})
      for (auto& x : *v) x = draw(-1000, 1000);  // integers: sums exact in any order
    Values y_ref(out_px * s.c), dcols_ref(in_px * taps, 0.0);
    for (int64_t q = 0; q < out_px; ++q)  // q = (b * oh + y) * ow + x
      for (int64_t ch = 0; ch < s.c; ++ch)
        y_ref[image(q / (s.oh * s.ow), q / s.ow % s.oh, q % s.ow, ch)] = bias[ch];
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t ih = 0; ih < s.h; ++ih)
        for (int64_t iw = 0; iw < s.w; ++iw)
          for (int64_t i = 0; i < s.kh; ++i)
            for (int64_t j = 0; j < s.kw; ++j) {
              const int64_t oy = ih * s.sh - s.ph + i, ox = iw * s.sw - s.pw + j;
              if (oy < 0 || oy >= s.oh || ox < 0 || ox >= s.ow) continue;
              const int64_t col = ((b * s.h + ih) * s.w + iw) * taps + (i * s.kw + j) * s.c;
              for (int64_t ch = 0; ch < s.c; ++ch) {
                y_ref[image(b, oy, ox, ch)] += cols[col + ch];
                dcols_ref[col + ch] = dy[image(b, oy, ox, ch)];
              }
            }
    Values y(out_px * s.c, NAN), dcols(in_px * taps, NAN);
    const dim3 grid(draw(1, 2), draw(1, 3));  // fewer blocks than rows and values
    const auto run = [&](auto layout) {
      constexpr bool kNHWC = decltype(layout)::value;
      const int out_row = int(s.ow * s.c), in_row = int(s.w * taps);
      dev.launch(grid, [&] {
        col2im_rows<kNHWC, double, double>(cols.data(), bias.data(), y.data(), s, out_row);
      });
      dev.launch(grid, [&] {
        im2col_rows<kNHWC, double, double>(dy.data(), dcols.data(), s, in_row);
      });
    };
    if (nhwc)
      run(std::true_type{});
    else
      run(std::false_type{});
    EXPECT(y == y_ref);
    EXPECT(dcols == dcols_ref);
  }
  std::printf("  col2im, im2col: %d geometries ok\n", cases);
}

// 60 tensors (two launches: 48 + 12) of 0 to 3 chunks and a bit, every
// third one misaligned by an element (scalar path), with one set of flags.
template <typename T>
static void rmsprop_groups(emulation::Device& dev, const RMSpropClipHyper<double>& hyper) {
  std::mt19937 rng(7);
  std::normal_distribution<T> normal;
  const RMSpropClipHyper<T> h = cast_hyper<T>(hyper);
  constexpr int kTensors = 60;
  std::vector<std::vector<T>> state(kTensors * 5);  // p, g, square_avg, momentum, grad_avg
  std::vector<RMSpropClipTensor> tensors(kTensors);
  for (int t = 0; t < kTensors; ++t) {
    std::uniform_int_distribution<int64_t> size(1, 3 * kChunk + 5);
    const int64_t numel = t % 7 == 0 ? 0 : size(rng);
    const int64_t skew = t % 3 == 0;
    T* ptr[5];
    for (int k = 0; k < 5; ++k) {
      auto& v = state[t * 5 + k];
      v.resize(numel + 1);
      // square_avg well above grad_avg^2, as the optimizer's state keeps it
      // (a negative variance would be NaN, unequal to itself).
      for (auto& x : v) {
        x = normal(rng);
        x = k == 2 ? T(1) + std::abs(x) : k == 4 ? x / T(10) : x;
      }
      ptr[k] = v.data() + skew;
    }
    tensors[t] = {ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], numel};
  }
  auto expected = state;
  for (int t = 0; t < kTensors; ++t)
    dispatch_rmsprop_flags(h, [&](auto centered, auto momentum, auto clip) {
      const int64_t skew = t % 3 == 0;
      T* v[5];
      for (int k = 0; k < 5; ++k) v[k] = expected[t * 5 + k].data() + skew;
      for (int64_t i = 0; i < tensors[t].numel; ++i)
        rmsprop_clip_update<decltype(centered)::value, decltype(momentum)::value,
                            decltype(clip)::value>(v[0][i], v[1][i], v[2][i], v[3][i], v[4][i], h);
    });
  int launches = 0;
  const cudaError_t err =
      launch_groups<T, T>(tensors.data(), kTensors, [&](const Meta& meta, int64_t blocks) {
        ++launches;
        dispatch_rmsprop_flags(h, [&](auto centered, auto momentum, auto clip) {
          dev.launch(dim3(unsigned(blocks)), [&] {
            rmsprop_clip_kernel<decltype(centered)::value, decltype(momentum)::value,
                                decltype(clip)::value, T, T>(meta, h);
          });
        });
        return cudaSuccess;
      });
  EXPECT(err == cudaSuccess && launches == 2);
  EXPECT(state == expected);
  std::printf("  rmsprop_clip_: %d tensors in %d launches ok\n", kTensors, launches);
}

int main() {
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // progress lines before a failure's message
  emulation::Device dev;
  batch_norm_passes(dev);
  col2im_passes(dev);
  const RMSpropClipHyper<double> every{0.01, 0.99, 1e-8, 0.01, 0.9, 0.05, true, true, true};
  const RMSpropClipHyper<double> plain{0.01, 0.99, 1e-8, 0.0, 0.0, 0.0, false, false, false};
  rmsprop_groups<float>(dev, every);
  rmsprop_groups<double>(dev, plain);
  std::puts("test_cuda_emulated: all passed");
  return 0;
}
