// Portability macros for math shared by the CPU and CUDA backends.
// This header (like everything in csrc/common) includes no torch headers, so
// nvcc can compile kernels against it on machines with a CPU-only torch.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define PYGAN_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// always_inline: GCC inlines across target attributes (the CPU kernels'
// AVX2 clones) only for always_inline callees.
#define PYGAN_HD inline __attribute__((always_inline))
#else
#define PYGAN_HD inline
#endif
