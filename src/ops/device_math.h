#pragma once
// Arithmetic shared by the CPU and CUDA kernels: small inline functions compiled for both sides,
// so that both run the same math. Plain C++ (no torch) so that nvcc can read it.

#include <cmath>

#ifdef __CUDACC__
#define SDS_HOST_DEVICE __host__ __device__
#else
#define SDS_HOST_DEVICE
#endif

namespace sds::ops::detail {

SDS_HOST_DEVICE inline float exp_neg(float x) { return ::expf(-x); }
SDS_HOST_DEVICE inline double exp_neg(double x) { return ::exp(-x); }

}  // namespace sds::ops::detail
