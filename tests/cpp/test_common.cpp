// Unit tests of csrc/common, the math shared by the CPU and CUDA kernels.
// Plain asserts (no framework download); run by ctest.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/rmsprop_clip.h"

using pygan::RMSpropClipHyper;

#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                     \
    }                                                                   \
  } while (0)

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

int main() {
  plain_step();
  centered_momentum_decay_maximize();
  clamp_bounds_and_nan();
  float_matches_double();
  dispatch_flags();
  std::puts("test_common: all passed");
  return 0;
}
