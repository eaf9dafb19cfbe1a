// Compiler support for the CPU kernels' vectorized loops.
#pragma once

// With SSE2 vectors the element loops are compute-bound (sqrt, div) on 2
// cores; an AVX2+FMA clone, picked when the library loads on CPUs that have
// it, brings them to the memory bandwidth (see bench/results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYGAN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PYGAN_CPU_CLONES
#endif

// Also an AVX-512 clone, for kernels whose 16-wide loops pay for it (the
// rollout GEMM's AVX-512 micro-kernel runs 2-3x faster than its AVX2 one on
// Zen 5).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYGAN_CPU_CLONES_V4 \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYGAN_CPU_CLONES_V4
#endif
