// A CPU emulation of the CUDA execution model, enough to run pygan's kernels
// in the C++ tests on machines without a GPU (CI has nvcc but no GPU). Each
// block of a grid runs on a pool of kBlockThreads std::threads, one per CUDA
// thread: __syncthreads is a barrier of the block, __shfl_xor_sync swaps
// values through a buffer between two barriers of the warp, and __shared__
// variables are statics (one block runs at a time). Blocks run one after
// another, so this checks a kernel's arithmetic, indexing and barrier
// discipline (a thread that skips a barrier the others reach hangs the test),
// not races between blocks, memory ordering or speed.
//
// Include it before any CUDA header: it defines the CUDA keywords first.
#pragma once

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)

#include <cuda_runtime_api.h>  // dim3, cudaError_t

#include <algorithm>
#include <barrier>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

// Device code calls CUDA's global min/max.
using std::max;
using std::min;

inline thread_local dim3 threadIdx;
inline dim3 blockIdx, gridDim, blockDim;

namespace emulation {

constexpr unsigned kBlockThreads = 256;
constexpr unsigned kWarp = 32;

inline std::barrier<>& block_barrier() {
  static std::barrier<> b(kBlockThreads);
  return b;
}

inline std::barrier<>& warp_barrier(unsigned warp) {
  static std::vector<std::unique_ptr<std::barrier<>>> b = [] {
    std::vector<std::unique_ptr<std::barrier<>>> v;
    for (unsigned w = 0; w < kBlockThreads / kWarp; ++w)
      v.push_back(std::make_unique<std::barrier<>>(kWarp));
    return v;
  }();
  return *b[warp];
}

// Runs kernel() as every thread of every block of `grid` (kBlockThreads a
// block), blockIdx/gridDim/blockDim/threadIdx set as CUDA would.
class Device {
 public:
  Device() {
    for (unsigned t = 0; t < kBlockThreads; ++t)
      threads_.emplace_back([this, t] {
        threadIdx = dim3(t);
        for (;;) {
          start_.arrive_and_wait();
          if (stop_) return;
          kernel_();
          done_.arrive_and_wait();
        }
      });
  }
  ~Device() {
    stop_ = true;
    start_.arrive_and_wait();
    for (auto& t : threads_) t.join();
  }
  void launch(dim3 grid, std::function<void()> kernel) {
    kernel_ = std::move(kernel);
    gridDim = grid;
    blockDim = dim3(kBlockThreads);
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = dim3(x, y, z);
          start_.arrive_and_wait();
          done_.arrive_and_wait();
        }
  }

 private:
  std::barrier<> start_{kBlockThreads + 1}, done_{kBlockThreads + 1};
  std::function<void()> kernel_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace emulation

inline void __syncthreads() { emulation::block_barrier().arrive_and_wait(); }

template <typename T>
T __shfl_xor_sync(unsigned /*mask: the whole warp here*/, T v, int lane_mask) {
  static T slots[emulation::kBlockThreads];
  const unsigned t = threadIdx.x, lane = t % emulation::kWarp;
  std::barrier<>& warp = emulation::warp_barrier(t / emulation::kWarp);
  slots[t] = v;
  warp.arrive_and_wait();
  const T other = slots[t - lane + (lane ^ unsigned(lane_mask))];
  warp.arrive_and_wait();  // the slots are reused by the next call
  return other;
}
