// at::ScalarType -> the launchers' cuda::Dtype, for the *_binding.cpp files.
#pragma once

#include <ATen/ATen.h>

#include "dtype.cuh"

namespace pygan {

inline cuda::Dtype cuda_dtype(at::ScalarType t, const char* op) {
  switch (t) {
    case at::kFloat: return cuda::Dtype::kFloat32;
    case at::kDouble: return cuda::Dtype::kFloat64;
    case at::kHalf: return cuda::Dtype::kFloat16;
    case at::kBFloat16: return cuda::Dtype::kBFloat16;
    default: TORCH_CHECK(false, op, ": unsupported dtype ", t, " on CUDA");
  }
}

}  // namespace pygan
