// trilinear_sample forward+backward: the fused CPU kernel against at::grid_sampler differentiated
// by autograd (the baseline, on the grid in its [1, C, D, H, W] layout), and CUDA against CPU
// when present.

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "sds/core/checks.h"
#include "sds/ops/trilinear_sample.h"

#ifdef SDS_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace {

struct Problem {
  at::Tensor grid;    // [D, H, W, C]
  at::Tensor points;  // [N, 3]
  at::Tensor v;       // [N, C] upstream gradient
  Problem to(const at::Device& d) const { return {grid.to(d), points.to(d), v.to(d)}; }
};

// Points as the voxel-grid renderer makes them: `views` cameras on a sphere of radius 2.5 looking
// at the centre (50 degree field of view), res x res rays each in image order, `samples` points
// evenly spaced between the ray's entry into and exit from the cube; a ray that misses it puts
// all its samples at the camera (outside the grid).
Problem make_problem(int64_t grid_res, int64_t C, int64_t views, int64_t res, int64_t samples) {
  at::manual_seed(0);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  std::vector<at::Tensor> origins, dirs;
  const at::Tensor lin = (at::arange(res, opts) + 0.5) / static_cast<double>(res) * 2 - 1;
  const std::vector<at::Tensor> vu = at::meshgrid({lin, lin}, "ij");
  const double tan_half = std::tan(25.0 * M_PI / 180.0);
  for (int64_t v = 0; v < views; ++v) {
    const double az = 2 * M_PI * static_cast<double>(v) / static_cast<double>(views) + 0.3;
    const double el = 0.35;
    const at::Tensor eye = at::tensor(
        {2.5 * std::cos(el) * std::cos(az), 2.5 * std::sin(el), 2.5 * std::cos(el) * std::sin(az)},
        opts);
    const at::Tensor fwd = -eye / eye.norm();
    const at::Tensor up0 = at::tensor({0.0, 1.0, 0.0}, opts);
    at::Tensor right = at::linalg_cross(fwd, up0);
    right = right / right.norm();
    const at::Tensor up = at::linalg_cross(right, fwd);
    at::Tensor d = fwd + (vu[1].unsqueeze(-1) * right - vu[0].unsqueeze(-1) * up) * tan_half;
    dirs.push_back((d / d.norm(2, -1, true)).view({-1, 3}));
    origins.push_back(eye.expand({res * res, 3}));
  }
  const at::Tensor o = at::cat(origins), d = at::cat(dirs);
  // Slab test against [-1, 1]^3, as src/repr/voxel_grid.cpp does.
  const at::Tensor t0 = (-1.0 - o) / d, t1 = (1.0 - o) / d;
  const at::Tensor near = at::minimum(t0, t1).amax(-1).clamp_min(0.0);
  const at::Tensor far = at::maximum(t0, t1).amin(-1);
  const at::Tensor hit = far > near;
  const at::Tensor n = at::where(hit, near, 0.0), f = at::where(hit, far, 0.0);
  const at::Tensor u = (at::arange(samples, opts) + 0.5) / static_cast<double>(samples);
  const at::Tensor ts = n.unsqueeze(1) + (f - n).unsqueeze(1) * u.unsqueeze(0);
  const at::Tensor points = (o.unsqueeze(1) + d.unsqueeze(1) * ts.unsqueeze(2)).view({-1, 3});
  return {at::randn({grid_res, grid_res, grid_res, C}, opts), points.contiguous(),
          at::randn({points.size(0), C}, opts)};
}

// A training step's worth of work: forward, then backward into the grid (a leaf).
using Step = std::function<void(const Problem&)>;

void fused_step(const Problem& p) {
  const at::Tensor g = p.grid.detach().requires_grad_(true);
  const at::Tensor out = sds::ops::trilinear_sample(g, p.points);
  torch::autograd::grad({out}, {g}, {p.v});
}

// The baseline: the grid stored as [1, C, D, H, W] (the layout at::grid_sampler wants, so no
// copies are charged to it), one batch of all points.
void aten_step(const Problem& p) {
  const int64_t n = p.points.size(0);
  const int64_t c = p.grid.size(3);
  const at::Tensor g5 = p.grid.permute({3, 0, 1, 2}).unsqueeze(0).contiguous().requires_grad_(true);
  const at::Tensor out = at::grid_sampler(g5, p.points.view({1, 1, 1, n, 3}), 0, 0, true);
  torch::autograd::grad({out}, {g5}, {p.v.t().reshape({1, c, 1, 1, n})});
}

// The workaround src/repr/voxel_grid.cpp uses: the points split into one batch per thread over an
// expanded (not copied) grid, since ATen's CPU grid sampler parallelises over the batch only.
void aten_split_step(const Problem& p) {
  const int64_t n = p.points.size(0);
  const int64_t c = p.grid.size(3);
  const int64_t parts = at::get_num_threads();
  const int64_t per = (n + parts - 1) / parts;
  const at::Tensor g5 = p.grid.permute({3, 0, 1, 2}).unsqueeze(0).contiguous().requires_grad_(true);
  const at::Tensor pts = at::constant_pad_nd(p.points, {0, 0, 0, per * parts - n});
  const at::Tensor vv = at::constant_pad_nd(p.v, {0, 0, 0, per * parts - n});
  const at::Tensor out = at::grid_sampler(g5.expand({parts, c, -1, -1, -1}),
                                          pts.view({parts, 1, 1, per, 3}), 0, 0, true);
  torch::autograd::grad(
      {out}, {g5}, {vv.view({parts, per, c}).permute({0, 2, 1}).reshape({parts, c, 1, 1, per})});
}

void sync(const Problem& p) {
#ifdef SDS_WITH_CUDA
  if (p.grid.is_cuda()) at::cuda::getCurrentCUDAStream().synchronize();
#endif
}

// Median wall time of `reps` steps after `warmup`, in milliseconds.
double time_ms(const Step& f, const Problem& p, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f(p);
  sync(p);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f(p);
    sync(p);
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Forward only (the grid does not require grad), for the split of the fused time.
void fused_forward(const Problem& p) { sds::ops::trilinear_sample(p.grid, p.points); }

void run(int64_t grid_res, int64_t C, int64_t views, int64_t res, int64_t samples) {
  const Problem p = make_problem(grid_res, C, views, res, samples);
  const double t_fused = time_ms(fused_step, p, 3, 21);
  const double t_fwd = time_ms(fused_forward, p, 3, 21);
  const double t_aten = time_ms(aten_step, p, 1, 5);
  const double t_split = time_ms(aten_split_step, p, 2, 9);
  std::printf(
      "grid %lld^3 x %lld, N=%lld points (%lld views x %lldx%lld rays x %lld samples), float32, "
      "forward+backward, CPU (%d threads)\n",
      static_cast<long long>(grid_res), static_cast<long long>(C),
      static_cast<long long>(p.points.size(0)), static_cast<long long>(views),
      static_cast<long long>(res), static_cast<long long>(res), static_cast<long long>(samples),
      at::get_num_threads());
  std::printf("  fused CPU:                    %9.3f ms (forward alone %.3f ms)\n", t_fused, t_fwd);
  std::printf("  grid_sampler autograd CPU:    %9.3f ms\n", t_aten);
  std::printf("  grid_sampler split per thread:%9.3f ms (fused speedup: %.1fx)\n", t_split,
              t_split / t_fused);
  std::printf("  speedup: %.1fx\n", t_aten / t_fused);
  if (sds::built_with_cuda() && at::hasCUDA()) {
    const Problem g = p.to(at::Device(at::kCUDA));
    const double t_cuda = time_ms(fused_step, g, 5, 51);
    const double t_cuda_aten = time_ms(aten_step, g, 5, 51);
    std::printf("  fused CUDA:                   %9.3f ms (%.1fx vs fused CPU)\n", t_cuda,
                t_fused / t_cuda);
    std::printf("  grid_sampler autograd CUDA:   %9.3f ms (fused CUDA speedup: %.1fx)\n",
                t_cuda_aten, t_cuda_aten / t_cuda);
  }
}

}  // namespace

int main() {
  run(64, 4, 4, 64, 96);
  return 0;
}
