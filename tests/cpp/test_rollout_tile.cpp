// The CPU rollout kernel's vectorized tile math (csrc/cpu/rollout_tile.h)
// against the scalar definitions in csrc/common, bit for bit: the CUDA
// kernel computes the scalar definitions, so this is what makes the two
// backends draw the same tokens. Built with the extension's CPU flags.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/rollout_tile.h"
#include "expect.h"

static bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

static std::vector<float> randn(size_t n, std::mt19937& rng, float std = 1.0f) {
  std::normal_distribution<float> d(0.0f, std);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

using Micro = void (*)(const float*, int64_t, const float*, int64_t, const float*, int64_t,
                       float*, int64_t);

// Each micro-kernel (whichever clone this CPU runs) equals dot_fma.
static void gemm_matches_dot_fma(Micro micro, int64_t rows, int64_t width, int64_t cols) {
  std::mt19937 rng(1);
  for (const int64_t k_len : {1, 7, 32, 288}) {
    const int64_t ldw = cols + 32;
    auto a = randn(rows * k_len, rng), w = randn(k_len * ldw, rng), bias = randn(ldw, rng);
    std::vector<float> out(rows * cols), col(k_len);
    for (int64_t j = 0; j < cols; j += width)
      micro(a.data(), k_len, w.data() + j, ldw, bias.data() + j, k_len, out.data() + j, cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        for (int64_t k = 0; k < k_len; ++k) col[k] = w[k * ldw + j];
        EXPECT(same_bits(out[r * cols + j],
                         pygan::dot_fma(bias[j], a.data() + r * k_len, col.data(), k_len)));
      }
  }
}

static void gemm_rows_matches_dot_fma() {
  std::mt19937 rng(2);
  const int64_t rows = pygan::cpu::kGemmRows, k_len = 40, cols = 96;
  auto a = randn(rows * k_len, rng), w = randn(k_len * cols, rng), bias = randn(cols, rng);
  std::vector<float> out(rows * cols), col(k_len);
  pygan::cpu::gemm_fma_rows(a.data(), k_len, w.data(), cols, bias.data(), k_len, cols,
                            out.data(), cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      for (int64_t k = 0; k < k_len; ++k) col[k] = w[k * cols + j];
      EXPECT(same_bits(out[r * cols + j],
                       pygan::dot_fma(bias[j], a.data() + r * k_len, col.data(), k_len)));
    }
}

static void block_stats_match_chunk_stats() {
  std::mt19937 rng(3);
  const int64_t rows = 3, cols = 128, valid = 101;  // a partial last chunk
  auto logits = randn(rows * cols, rng, 5.0f);
  logits[7] = -INFINITY;
  for (const float inv_temp : {1.0f, 2.5f, 0.3f}) {
    float cmax[rows * 4], csum[rows * 4], w[32];
    pygan::cpu::block_chunk_stats(logits.data(), rows, cols, cols, valid, inv_temp, cmax, csum,
                                  4);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        const int count = int(std::min<int64_t>(32, valid - 32 * c));
        const auto st = pygan::chunk_stats(logits.data() + r * cols + 32 * c, count, inv_temp, w);
        EXPECT(same_bits(cmax[r * 4 + c], st.max));
        EXPECT(same_bits(csum[r * 4 + c], st.sum));
      }
  }
}

static void chunk_logits_match_dot_fma() {
  std::mt19937 rng(4);
  const int64_t hidden = 37, ldw = 96, vocab = 90;
  auto h = randn(hidden, rng), w_t = randn(hidden * ldw, rng), bias = randn(ldw, rng);
  std::vector<float> w_row(hidden);
  float out[32];
  for (int64_t c = 0; c < 3; ++c) {
    pygan::cpu::chunk_logits(h.data(), w_t.data(), ldw, bias.data(), hidden, c, out);
    for (int64_t j = 0; j < 32 && 32 * c + j < vocab; ++j) {
      for (int64_t k = 0; k < hidden; ++k) w_row[k] = w_t[k * ldw + 32 * c + j];
      EXPECT(same_bits(out[j], pygan::dot_fma(bias[32 * c + j], h.data(), w_row.data(), hidden)));
    }
  }
}

static void lstm_cells_match_lstm_unit() {
  std::mt19937 rng(5);
  const int64_t rows = 2, hidden = 19, ld = 4 * hidden + 5;
  auto gates = randn(rows * ld, rng, 3.0f), c = randn(rows * hidden, rng);
  std::vector<float> h_out(rows * hidden), c_out(rows * hidden);
  pygan::cpu::lstm_cells(gates.data(), ld, c.data(), h_out.data(), c_out.data(), rows, hidden);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < hidden; ++j) {
      const float* g = gates.data() + r * ld;
      const auto st = pygan::lstm_unit(g[j], g[hidden + j], g[2 * hidden + j],
                                       g[3 * hidden + j], c[r * hidden + j]);
      EXPECT(same_bits(h_out[r * hidden + j], st.h));
      EXPECT(same_bits(c_out[r * hidden + j], st.c));
    }
}

int main() {
  // Both micro-kernels, whatever gemm_fma_rows picks on this CPU.
  gemm_matches_dot_fma(&pygan::cpu::gemm_micro<12, 2, 16>, 12, 32, 64);
  gemm_matches_dot_fma(&pygan::cpu::gemm_micro<6, 2, 8>, 6, 16, 48);
  gemm_rows_matches_dot_fma();
  block_stats_match_chunk_stats();
  chunk_logits_match_dot_fma();
  lstm_cells_match_lstm_unit();
  std::puts("test_rollout_tile: all passed");
  return 0;
}
