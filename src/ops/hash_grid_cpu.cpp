// hash_grid on the CPU: gather and input_grad parallel over points; scatter parallel over
// levels (a level's entries belong to one thread, which adds its points in order), so every
// result is the same for any thread count without per-thread copies of the parameters. Also the
// reference for the CUDA kernels.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "ops/hash_grid_kernels.h"

namespace sds::ops::detail {
namespace {

// Points per task of the point-parallel kernels (a point is L cells of ~10-30 ns each).
constexpr int64_t kPointGrain = 256;

template <typename T>
const T* maybe(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T, int kF>
void gather_impl(const HashGridLevels& L, const T* theta, const T* u, const T* v, T* out,
                 int64_t N) {
  const int64_t width = int64_t{L.n_levels} * kF;
  at::parallel_for(0, N, kPointGrain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      for (int l = 0; l < L.n_levels; ++l) {
        HashCell<T> cell;
        hash_cell(L, l, u + 3 * p, cell);
        T k[8];
        cell_weights(cell, v ? v + 3 * p : nullptr, k);
        hash_gather<T, kF>(theta, cell, k, out + p * width + l * kF);
      }
    }
  });
}

template <typename T, int kF>
void scatter_impl(const HashGridLevels& L, const T* u, const T* v, const T* g, T* dtheta,
                  int64_t N) {
  const int64_t width = int64_t{L.n_levels} * kF;
  at::parallel_for(0, L.n_levels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l) {
      const int level = static_cast<int>(l);
      T* level_start = dtheta + L.offset[level] * kF;
      std::fill(level_start, level_start + int64_t{L.size[level]} * kF, T(0));
      for (int64_t p = 0; p < N; ++p) {
        HashCell<T> cell;
        hash_cell(L, level, u + 3 * p, cell);
        T k[8];
        cell_weights(cell, v ? v + 3 * p : nullptr, k);
        const T* gp = g + p * width + l * kF;
        for (int c = 0; c < 8; ++c) {
          T* d = dtheta + cell.row[c] * kF;
          for (int f = 0; f < kF; ++f) d[f] += k[c] * gp[f];
        }
      }
    }
  });
}

template <typename T, int kF>
void input_grad_impl(const HashGridLevels& L, const T* theta, const T* u, const T* v, const T* g,
                     T* du, int64_t N) {
  at::parallel_for(0, N, kPointGrain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) hash_point_input_grad<T, kF>(L, p, theta, u, v, g, du);
  });
}

// Calls f.template operator()<kF>() for the supported feature counts.
template <class Fn>
void dispatch_features(int F, Fn&& fn) {
  switch (F) {
    case 1:
      fn.template operator()<1>();
      break;
    case 2:
      fn.template operator()<2>();
      break;
    case 4:
      fn.template operator()<4>();
      break;
    default:
      fn.template operator()<8>();
      break;
  }
}

}  // namespace

void hash_grid_gather_cpu(const HashGridLevels& L, const at::Tensor& theta, const at::Tensor& u,
                          const at::Tensor& v, const at::Tensor& out) {
  const int64_t N = u.size(0);
  if (N == 0) return;
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "hash_grid_gather_cpu", [&] {
    dispatch_features(L.n_features, [&]<int kF>() {
      gather_impl<scalar_t, kF>(L, theta.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                                maybe<scalar_t>(v), out.data_ptr<scalar_t>(), N);
    });
  });
}

void hash_grid_scatter_cpu(const HashGridLevels& L, const at::Tensor& u, const at::Tensor& v,
                           const at::Tensor& g, const at::Tensor& dtheta) {
  const int64_t N = u.size(0);
  AT_DISPATCH_FLOATING_TYPES(dtheta.scalar_type(), "hash_grid_scatter_cpu", [&] {
    dispatch_features(L.n_features, [&]<int kF>() {
      scatter_impl<scalar_t, kF>(L, u.data_ptr<scalar_t>(), maybe<scalar_t>(v),
                                 g.data_ptr<scalar_t>(), dtheta.data_ptr<scalar_t>(), N);
    });
  });
}

void hash_grid_input_grad_cpu(const HashGridLevels& L, const at::Tensor& theta, const at::Tensor& u,
                              const at::Tensor& v, const at::Tensor& g, const at::Tensor& du) {
  const int64_t N = u.size(0);
  if (N == 0) return;
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "hash_grid_input_grad_cpu", [&] {
    dispatch_features(L.n_features, [&]<int kF>() {
      input_grad_impl<scalar_t, kF>(L, theta.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                                    maybe<scalar_t>(v), g.data_ptr<scalar_t>(),
                                    du.data_ptr<scalar_t>(), N);
    });
  });
}

}  // namespace sds::ops::detail
