// What the argument checks templated over the size type I share: int64_t in
// the kernels, c10::SymInt in the check ops the fake kernels call (symbolic
// sizes under torch.compile(dynamic=True) and opcheck).
#pragma once

#include <c10/core/SymInt.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace pygan {

inline std::optional<int64_t> as_int(int64_t v) { return v; }
inline std::optional<int64_t> as_int(const c10::SymInt& v) { return v.maybe_as_int(); }

// Whether the product of concrete sizes overflows int64 (symbolic ones are
// taken to fit: the kernels see them concrete and check again).
template <typename I, size_t N>
bool numel_overflows(const std::array<I, N>& sizes) {
  int64_t numel = 1;
  for (const I& v : sizes) {
    const auto c = as_int(v);
    if (!c) return false;
    if (__builtin_mul_overflow(numel, *c, &numel)) return true;
  }
  return false;
}

}  // namespace pygan
