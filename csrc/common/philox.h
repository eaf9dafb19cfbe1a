// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011): a counter-based generator, so the random number of any
// (key, counter) pair is a pure function of it. Kernels key it by the seed
// and number each draw by its position in the output, which makes the
// stream independent of how threads are mapped to work and identical on the
// CPU and on CUDA. Known-answer tests: tests/cpp/test_common.cpp.
#pragma once

#include <cstdint>

#include "macros.h"

namespace pygan {

struct Philox4x32 {
  uint32_t x[4];
};

PYGAN_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t& hi) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, b);
  return a * b;
#else
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  return uint32_t(p);
#endif
}

// Ten rounds of Philox4x32 on counter (c0..c3) with key (k0, k1), the
// round constants and key schedule of the Random123 reference.
PYGAN_HD Philox4x32 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                  uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(kM0, c0, hi0);
    const uint32_t lo1 = mulhilo32(kM1, c2, hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return {{c0, c1, c2, c3}};
}

// A float in [0, 1) from the top 24 bits of x: exact (k * 2^-24), so
// every backend turns the same bits into the same number.
PYGAN_HD float uniform_from_bits(uint32_t x) { return float(x >> 8) * 0x1p-24f; }

// The uniform number of draw `index` of stream (seed, offset): key = seed,
// counter = (index, offset) as two 64-bit halves; word 0 of the block.
PYGAN_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t index) {
  const Philox4x32 r = philox4x32_10(uint32_t(index), uint32_t(index >> 32), uint32_t(offset),
                                     uint32_t(offset >> 32), uint32_t(seed),
                                     uint32_t(seed >> 32));
  return uniform_from_bits(r.x[0]);
}

}  // namespace pygan
