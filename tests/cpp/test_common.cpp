// Unit tests of csrc/common, the math shared by the CPU and CUDA kernels.
// Plain asserts (no framework download); run by ctest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "expect.h"
#include "common/col2im.h"
#include "common/philox.h"
#include "common/rmsprop_clip.h"
#include "common/rollout.h"
#include "common/sampling.h"

using pygan::RMSpropClipHyper;

static bool near(double a, double b) { return std::fabs(a - b) <= 1e-12 * (1 + std::fabs(b)); }

static RMSpropClipHyper<double> hyper() {
  return {/*lr=*/0.1, /*alpha=*/0.9, /*eps=*/1e-8, /*weight_decay=*/0.0, /*momentum=*/0.0,
          /*clip=*/0.0, /*centered=*/false, /*maximize=*/false, /*has_clip=*/false};
}

static void plain_step() {
  double p = 1.0, sq = 0.0, m = 0.0, ga = 0.0;
  pygan::rmsprop_clip_update<false, false, false>(p, 2.0, sq, m, ga, hyper());
  EXPECT(near(sq, 0.1 * 4.0));
  EXPECT(near(p, 1.0 - 0.1 * 2.0 / (std::sqrt(0.4) + 1e-8)));
}

static void centered_momentum_decay_maximize() {
  auto h = hyper();
  h.weight_decay = 0.5;
  h.momentum = 0.9;
  h.centered = h.maximize = true;
  double p = 1.0, sq = 0.2, m = 0.3, ga = 0.1;
  pygan::rmsprop_clip_update<true, true, false>(p, 2.0, sq, m, ga, h);
  const double g = -2.0 + 0.5 * 1.0;
  const double sq_want = 0.2 * 0.9 + 0.1 * g * g;
  const double ga_want = 0.1 + 0.1 * (g - 0.1);
  const double m_want = 0.3 * 0.9 + g / (std::sqrt(sq_want - ga_want * ga_want) + 1e-8);
  EXPECT(near(sq, sq_want));
  EXPECT(near(ga, ga_want));
  EXPECT(near(m, m_want));
  EXPECT(near(p, 1.0 - 0.1 * m_want));
}

static void clamp_bounds_and_nan() {
  auto h = hyper();
  h.has_clip = true;
  h.clip = 0.01;
  double p = 1.0, sq = 0.0, m = 0.0, ga = 0.0;
  pygan::rmsprop_clip_update<false, false, true>(p, 1.0, sq, m, ga, h);
  EXPECT(p == 0.01);
  p = -1.0;
  pygan::rmsprop_clip_update<false, false, true>(p, -1.0, sq, m, ga, h);
  EXPECT(p == -0.01);
  p = 0.0;
  pygan::rmsprop_clip_update<false, false, true>(p, std::numeric_limits<double>::quiet_NaN(), sq,
                                                 m, ga, h);
  EXPECT(std::isnan(p));  // a diverged critic must stay visible after the clamp
}

static void float_matches_double() {
  auto hd = hyper();
  auto hf = pygan::cast_hyper<float>(hd);
  double pd = 0.3, sqd = 0.01, md = 0, gad = 0;
  float pf = 0.3f, sqf = 0.01f, mf = 0, gaf = 0;
  for (int i = 0; i < 20; ++i) {
    const double g = std::sin(i * 0.7);
    pygan::rmsprop_clip_update<false, false, false>(pd, g, sqd, md, gad, hd);
    pygan::rmsprop_clip_update<false, false, false>(pf, float(g), sqf, mf, gaf, hf);
  }
  EXPECT(std::fabs(pf - pd) < 1e-5);
}

static void dispatch_flags() {
  auto h = hyper();
  h.centered = true;
  h.momentum = 0.5;
  int seen = -1;
  pygan::dispatch_rmsprop_flags(h, [&](auto c, auto m, auto k) {
    seen = decltype(c)::value * 4 + decltype(m)::value * 2 + decltype(k)::value;
  });
  EXPECT(seen == 6);
}

// Known answers of Random123's kat_vectors (philox4x32 10: counter, key ->
// output), also those of other independent Philox4x32-10 implementations.
static void philox_known_answers() {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const pygan::Philox4x32 r =
        pygan::philox4x32_10(k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i) EXPECT(r.x[i] == k.out[i]);
  }
}

static void philox_uniform_layout() {
  EXPECT(pygan::uniform_from_bits(0) == 0.0f);
  EXPECT(pygan::uniform_from_bits(0xffffffffu) == 1.0f - 0x1p-24f);
  const uint64_t seed = 0x0123456789abcdefull, offset = 0xfedcba9876543210ull, index = 77;
  const auto r = pygan::philox4x32_10(77, 0, 0x76543210u, 0xfedcba98u, 0x89abcdefu, 0x01234567u);
  EXPECT(pygan::philox_uniform(seed, offset, index) == pygan::uniform_from_bits(r.x[0]));
  EXPECT(pygan::philox_uniform(seed, offset, index) !=
         pygan::philox_uniform(seed, offset + 1, index));
}

static void exp_neg_accuracy() {
  double worst = 0;
  for (int i = 0; i <= 860000; ++i) {
    const float x = -float(i) * 1e-4f;
    const double want = std::exp(double(x));
    worst = std::fmax(worst, std::fabs(pygan::exp_neg(x) - want) / want);
  }
  EXPECT(worst < 3e-7);  // a few ulp
  EXPECT(pygan::exp_neg(0.0f) == 1.0f);
  EXPECT(pygan::exp_neg(-87.0f) == 0.0f);
  EXPECT(pygan::exp_neg(-std::numeric_limits<float>::infinity()) == 0.0f);
  EXPECT(pygan::exp_neg(std::numeric_limits<float>::quiet_NaN()) == 0.0f);
  for (float x = -20.0f; x <= 20.0f; x += 0.01f) {
    EXPECT(std::fabs(pygan::sigmoid_fixed(x) - 1.0 / (1.0 + std::exp(-double(x)))) < 2e-7);
    EXPECT(std::fabs(pygan::tanh_fixed(x) - std::tanh(double(x))) < 3e-7);
  }
}

// The tree of tree_sum32 is what a warp's xor butterfly computes in every lane.
static void tree_sum_is_the_butterfly() {
  float w[32], lanes[32], next[32];
  for (int j = 0; j < 32; ++j) w[j] = lanes[j] = std::ldexp(1.0f + 0.37f * j, (j * 7) % 23 - 11);
  for (int h = 16; h > 0; h /= 2) {
    for (int j = 0; j < 32; ++j) next[j] = lanes[j] + lanes[j ^ h];
    std::copy(next, next + 32, lanes);
  }
  const float tree = pygan::tree_sum32(w);
  for (int j = 0; j < 32; ++j) EXPECT(lanes[j] == tree);
}

// One draw of the two-level inverse CDF, composed as the kernels do.
static int sample_row(const float* logits, int vocab, float inv_temp, float u) {
  const int chunks = (vocab + 31) / 32;
  float padded[32 * 8], w[32], cmax[8], csum[8], scale[8], cdf[8];
  std::copy(logits, logits + vocab, padded);
  for (int c = 0; c < chunks; ++c) {
    const int count = std::min(32, vocab - 32 * c);
    const pygan::ChunkStats st = pygan::chunk_stats(padded + 32 * c, count, inv_temp, w);
    cmax[c] = st.max;
    csum[c] = st.sum;
  }
  const float total = pygan::row_cdf(cmax, csum, chunks, inv_temp, scale, cdf);
  const float target = pygan::cdf_target(u, total);
  const int c = int(pygan::find_chunk(cdf, chunks, target));
  if (c == chunks) return vocab - 1;
  const int count = std::min(32, vocab - 32 * c);
  for (int j = 0; j < count; ++j)
    w[j] = pygan::softmax_weight(padded[32 * c + j], cmax[c], inv_temp);
  return 32 * c + pygan::pick_in_chunk(w, count, scale[c], c ? cdf[c - 1] : 0.0f, target);
}

// Every u lands on the token whose exact CDF interval holds it (up to
// float rounding at the boundaries); zero-weight tokens are never drawn.
static void inverse_cdf_draws() {
  const int vocab = 75;  // two full chunks and a partial one
  float logits[75];
  for (int v = 0; v < vocab; ++v) logits[v] = float(std::sin(v * 1.3) * 4.0);
  logits[40] = -std::numeric_limits<float>::infinity();
  for (const float temp : {1.0f, 0.5f, 3.0f}) {
    double cdf[75], total = 0, lo = 0;
    for (int v = 0; v < vocab; ++v) {
      total += std::exp((double(logits[v]) - 4.0) / temp);
      cdf[v] = total;
    }
    for (int i = 0; i < 20000; ++i) {
      const float u = pygan::uniform_from_bits(uint32_t(i) * 214748u);
      const int tok = sample_row(logits, vocab, 1.0f / temp, u);
      EXPECT(tok >= 0 && tok < vocab && tok != 40);
      lo = tok ? cdf[tok - 1] / total : 0.0;
      EXPECT(double(u) >= lo - 1e-5 && double(u) <= cdf[tok] / total + 1e-5);
    }
    EXPECT(sample_row(logits, vocab, 1.0f / temp, 1.0f - 0x1p-24f) == vocab - 1);
  }
}

// col2im's taps of one dimension, in int (as the CUDA kernels) and int64,
// against every (tap, input) pair whose output coordinate tap_output gives.
static void taps_are_every_pair_landing_on_the_output() {
  for (int k = 1; k <= 5; ++k)
    for (int stride = 1; stride <= 3; ++stride)
      for (int pad = 0; pad < k; ++pad)
        for (int size = 1; size <= 4; ++size) {
          const int out_size = (size - 1) * stride - 2 * pad + k + stride - 1;
          for (int o = 0; o < out_size; ++o) {
            int expected = 0, seen = 0, seen64 = 0;
            for (int i = 0; i < k; ++i)
              for (int in = 0; in < size; ++in)
                expected += pygan::tap_output(in, pad, stride, i) == o ? 1 << (i * 4 + in) : 0;
            pygan::taps_1d<int>(o, pad, stride, k, size, [&](int i, int in) {
              EXPECT(pygan::tap_output(in, pad, stride, i) == o);
              seen += 1 << (i * 4 + in);
            });
            pygan::taps_1d<int64_t>(o, pad, stride, k, size,
                                    [&](int64_t i, int64_t in) { seen64 += 1 << (i * 4 + in); });
            EXPECT(seen == expected && seen64 == expected);
          }
        }
}

int main() {
  philox_known_answers();
  philox_uniform_layout();
  exp_neg_accuracy();
  tree_sum_is_the_butterfly();
  inverse_cdf_draws();
  plain_step();
  centered_momentum_decay_maximize();
  clamp_bounds_and_nan();
  float_matches_double();
  dispatch_flags();
  taps_are_every_pair_landing_on_the_output();
  std::puts("test_common: all passed");
  return 0;
}
