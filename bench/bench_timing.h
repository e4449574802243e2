#pragma once
// Wall-clock timing shared by the benchmarks: a device sync that is a no-op on the CPU, and the
// median of repeated calls after a warm-up (the median, because a 2-core machine's other work
// lands in a few repetitions).

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#ifdef SDS_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sds::bench {

/// Waits for the work queued on `t`'s device (its current CUDA stream); nothing on the CPU.
inline void sync(const at::Tensor& t) {
#ifdef SDS_WITH_CUDA
  if (t.is_cuda()) at::cuda::getCurrentCUDAStream().synchronize();
#else
  (void)t;
#endif
}

/// Median wall time in milliseconds of `reps` calls of `f` after `warmup` calls, each followed
/// by a sync of `on`'s device.
inline double median_ms(const std::function<void()>& f, const at::Tensor& on, int warmup,
                        int reps) {
  for (int i = 0; i < warmup; ++i) f();
  sync(on);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    sync(on);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace sds::bench
