// trilinear_sample forward+backward: the fused CPU kernel against ATen's grid sampler (the
// baseline), and CUDA against CPU when present.
//
// Fairness rules. The ATen baseline runs on every thread: ATen's CPU grid sampler parallelises
// over the batch dimension only, so one call with batch 1 runs on one thread (the bench measures
// that too, at 1 and at all threads); the baseline therefore splits the points into one chunk per
// thread with at::parallel_for, each chunk calling at::grid_sampler_3d and
// at::grid_sampler_3d_backward directly on its own slice (no autograd: autograd would run the
// backward of every chunk on the calling thread), and sums the chunks' grid gradients (that sum
// is the price of the split and always charged). The two sides want different layouts
// (trilinear_sample: grid [D, H, W, C], values [N, C]; grid sampler: grid [1, C, D, H, W], values
// [1, C, 1, 1, N]); each row of the table says which layout conversions are charged, and to whom.
// The fused side goes through autograd (its overhead is charged to it).

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "bench_timing.h"
#include "sds/core/checks.h"
#include "sds/ops/trilinear_sample.h"

namespace {

using sds::bench::median_ms;

struct Problem {
  at::Tensor grid;    // [D, H, W, C]
  at::Tensor points;  // [N, 3]
  at::Tensor v;       // [N, C] upstream gradient
  Problem to(const at::Device& d) const { return {grid.to(d), points.to(d), v.to(d)}; }
};

// The same problem in the grid sampler's layouts, made outside the timed region.
struct AtenLayout {
  at::Tensor grid5;                 // [1, C, D, H, W]
  at::Tensor v5;                    // [1, C, 1, 1, N]
  std::vector<at::Tensor> v_parts;  // [1, C, 1, 1, n_k] per chunk, each contiguous
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

// Chunk k of `parts` over n points: [lo, lo + m).
std::pair<int64_t, int64_t> chunk(int64_t n, int64_t parts, int64_t k) {
  const int64_t per = (n + parts - 1) / parts;
  const int64_t lo = std::min(n, k * per);
  return {lo, std::min(n, lo + per) - lo};
}

// ---- the fused op ----

struct Result {
  at::Tensor out;   // [N, C]
  at::Tensor grad;  // [D, H, W, C]
};

// Forward, then backward into the grid (a leaf), all in the op's own layouts.
Result fused_native(const at::Tensor& grid, const at::Tensor& points, const at::Tensor& v) {
  const at::Tensor g = grid.detach().requires_grad_(true);
  const at::Tensor out = sds::ops::trilinear_sample(g, points);
  return {out, torch::autograd::grad({out}, {g}, {v})[0]};
}

// The fused op behind the grid sampler's interface: it pays the four conversions (grid in,
// values in, values out, gradient out).
void fused_at_aten_interface(const AtenLayout& a, const at::Tensor& points) {
  const int64_t n = points.size(0), c = a.grid5.size(1);
  const at::Tensor grid = a.grid5.squeeze(0).permute({1, 2, 3, 0}).contiguous();
  const at::Tensor v = a.v5.view({c, n}).t().contiguous();
  const Result r = fused_native(grid, points, v);
  const at::Tensor out5 = r.out.t().contiguous().view({1, c, 1, 1, n});
  const at::Tensor grad5 = r.grad.permute({3, 0, 1, 2}).contiguous().unsqueeze(0);
  (void)out5;
  (void)grad5;
}

// ---- the ATen baseline ----

// Forward and backward of `parts` chunks of points, one at::parallel_for task each (parts = 1:
// one call). `v_of(k, lo, m)` gives chunk k's upstream gradient [1, C, 1, 1, m] and
// `take(k, lo, m, out)` receives its output [1, C, 1, 1, m]; both run inside the chunk's task.
// Returns the grid gradient [1, C, D, H, W], summed over chunks.
at::Tensor aten_split(
    const at::Tensor& grid5, const at::Tensor& points, int64_t parts,
    const std::function<at::Tensor(int64_t, int64_t, int64_t)>& v_of,
    const std::function<void(int64_t, int64_t, int64_t, const at::Tensor&)>& take) {
  const int64_t n = points.size(0);
  std::vector<at::Tensor> grads(static_cast<size_t>(parts));
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const auto [lo, m] = chunk(n, parts, k);
      const at::Tensor pts = points.narrow(0, lo, m).view({1, 1, 1, m, 3});
      const at::Tensor out = at::grid_sampler_3d(grid5, pts, /*bilinear*/ 0, /*zeros*/ 0,
                                                 /*align_corners*/ true);
      take(k, lo, m, out);
      grads[static_cast<size_t>(k)] = std::get<0>(
          at::grid_sampler_3d_backward(v_of(k, lo, m), grid5, pts, 0, 0, true, {true, false}));
    }
  });
  at::Tensor grad = grads[0];
  for (size_t k = 1; k < grads.size(); ++k) grad = grad + grads[k];
  return grad;
}

// No conversions: the grid and the per-chunk upstream gradients already in the sampler's layout,
// the chunk outputs left as they come.
void aten_native(const AtenLayout& a, const at::Tensor& points, int64_t parts) {
  std::vector<at::Tensor> outs(static_cast<size_t>(parts));
  aten_split(
      a.grid5, points, parts,
      [&](int64_t k, int64_t, int64_t) { return a.v_parts[static_cast<size_t>(k)]; },
      [&](int64_t k, int64_t, int64_t, const at::Tensor& o) { outs[static_cast<size_t>(k)] = o; });
}

// Behind the fused op's interface: the baseline pays the grid to [1, C, D, H, W], each chunk's
// values [m, C] -> [1, C, 1, 1, m] and its output back into [N, C] (inside the chunk's task, so
// in parallel), and the gradient to [D, H, W, C].
Result aten_at_sds_interface(const at::Tensor& grid, const at::Tensor& points, const at::Tensor& v,
                             int64_t parts) {
  const int64_t n = points.size(0), c = grid.size(3);
  const at::Tensor grid5 = grid.permute({3, 0, 1, 2}).contiguous().unsqueeze(0);
  at::Tensor out = at::empty({n, c}, grid.options());
  const at::Tensor grad5 = aten_split(
      grid5, points, parts,
      [&](int64_t, int64_t lo, int64_t m) {
        return v.narrow(0, lo, m).t().contiguous().view({1, c, 1, 1, m});
      },
      [&](int64_t, int64_t lo, int64_t m, const at::Tensor& o) {
        out.narrow(0, lo, m).copy_(o.view({c, m}).t());
      });
  return {out, grad5.squeeze(0).permute({1, 2, 3, 0}).contiguous()};
}

// Behind its own interface (values [1, C, 1, 1, N] in and out): no layout conversions, but the
// chunk outputs are gathered into one [1, C, 1, 1, N] tensor (in each chunk's task).
void aten_at_aten_interface(const AtenLayout& a, const at::Tensor& points, int64_t parts) {
  const int64_t n = points.size(0), c = a.grid5.size(1);
  at::Tensor out5 = at::empty({1, c, 1, 1, n}, a.grid5.options());
  aten_split(
      a.grid5, points, parts, [&](int64_t, int64_t lo, int64_t m) { return a.v5.narrow(4, lo, m); },
      [&](int64_t, int64_t lo, int64_t m, const at::Tensor& o) { out5.narrow(4, lo, m).copy_(o); });
}

AtenLayout aten_layout(const Problem& p, int64_t parts) {
  const int64_t n = p.points.size(0), c = p.grid.size(3);
  AtenLayout a;
  a.grid5 = p.grid.permute({3, 0, 1, 2}).contiguous().unsqueeze(0);
  a.v5 = p.v.t().contiguous().view({1, c, 1, 1, n});
  for (int64_t k = 0; k < parts; ++k) {
    const auto [lo, m] = chunk(n, parts, k);
    a.v_parts.push_back(a.v5.narrow(4, lo, m).contiguous());
  }
  return a;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

void print_rows(double fused_native_ms, double fused_aten_ms, double none_ms, double sds_ms,
                double aten_ms, const char* dev, int64_t parts) {
  std::printf("  %-64s %10s %10s %10s\n", "copies charged", "fused ms", "ATen ms", "ATen/fused");
  std::printf("  %-64s %10.3f %10.3f %9.2fx\n", "none (each side in its own layout)",
              fused_native_ms, none_ms, none_ms / fused_native_ms);
  std::printf("  %-64s %10.3f %10.3f %9.2fx\n",
              "sds layout in/out: ATen pays grid, v in, out, grad conversions", fused_native_ms,
              sds_ms, sds_ms / fused_native_ms);
  std::printf("  %-64s %10.3f %10.3f %9.2fx\n",
              "ATen layout in/out: fused pays the 4 conversions the other way", fused_aten_ms,
              aten_ms, aten_ms / fused_aten_ms);
  std::printf(
      "  (%s; ATen split into %lld chunk(s); every ATen row includes the sum of the chunk "
      "gradients%s; ratio > 1: fused faster)\n",
      dev, static_cast<long long>(parts),
      parts > 1 ? " and, in the ATen-layout row, gathering the chunk outputs" : "");
}

void run(int64_t grid_res, int64_t C, int64_t views, int64_t res, int64_t samples) {
  const Problem p = make_problem(grid_res, C, views, res, samples);
  const int threads = at::get_num_threads();
  const int64_t parts = threads;
  const AtenLayout a = aten_layout(p, parts);
  const at::Tensor& pts = p.points;

  const double t_fused = median_ms([&] { fused_native(p.grid, pts, p.v); }, pts, 3, 21);
  const double t_fwd = median_ms([&] { sds::ops::trilinear_sample(p.grid, pts); }, pts, 3, 21);
  const double t_fused_aten = median_ms([&] { fused_at_aten_interface(a, pts); }, pts, 2, 9);
  const double t_none = median_ms([&] { aten_native(a, pts, parts); }, pts, 1, 7);
  const double t_sds =
      median_ms([&] { aten_at_sds_interface(p.grid, pts, p.v, parts); }, pts, 1, 7);
  const double t_aten = median_ms([&] { aten_at_aten_interface(a, pts, parts); }, pts, 1, 7);
  // One call with batch 1, at all threads and at one: equal times show that ATen does not
  // parallelise it.
  const AtenLayout one = aten_layout(p, 1);
  const double t_one = median_ms([&] { aten_native(one, pts, 1); }, pts, 1, 3);
  at::set_num_threads(1);
  const double t_one_1 = median_ms([&] { aten_native(one, pts, 1); }, pts, 1, 3);
  at::set_num_threads(threads);

  const Result f = fused_native(p.grid, pts, p.v);
  const Result b = aten_at_sds_interface(p.grid, pts, p.v, parts);
  std::printf(
      "grid %lld^3 x %lld, N=%lld points (%lld views x %lldx%lld rays x %lld samples), float32, "
      "forward+backward, CPU (%d threads)\n",
      static_cast<long long>(grid_res), static_cast<long long>(C),
      static_cast<long long>(pts.size(0)), static_cast<long long>(views),
      static_cast<long long>(res), static_cast<long long>(res), static_cast<long long>(samples),
      threads);
  std::printf(
      "  fused: sds::ops::trilinear_sample + autograd (forward alone %.3f ms); ATen: "
      "at::grid_sampler_3d + _backward per chunk\n",
      t_fwd);
  print_rows(t_fused, t_fused_aten, t_none, t_sds, t_aten, "CPU", parts);
  std::printf("  ATen one call, batch 1, no split: %.3f ms at %d threads, %.3f ms at 1 thread\n",
              t_one, threads, t_one_1);
  std::printf(
      "  equal output (fused vs ATen, sds layout): max |out diff| %.3g, max |grad diff| "
      "%.3g (grad max %.3g)\n",
      max_abs_diff(f.out, b.out), max_abs_diff(f.grad, b.grad), b.grad.abs().max().item<double>());

  if (sds::built_with_cuda() && at::hasCUDA()) {
    // On the GPU the grid sampler's kernel runs over all points in one call: no split.
    const Problem g = p.to(at::Device(at::kCUDA));
    const AtenLayout ga = aten_layout(g, 1);
    const at::Tensor& gp = g.points;
    const double c_fused = median_ms([&] { fused_native(g.grid, gp, g.v); }, gp, 5, 51);
    const double c_fused_aten = median_ms([&] { fused_at_aten_interface(ga, gp); }, gp, 5, 51);
    const double c_none = median_ms([&] { aten_native(ga, gp, 1); }, gp, 5, 51);
    const double c_sds = median_ms([&] { aten_at_sds_interface(g.grid, gp, g.v, 1); }, gp, 5, 51);
    const double c_aten = median_ms([&] { aten_at_aten_interface(ga, gp, 1); }, gp, 5, 51);
    std::printf("  CUDA: fused %.3f ms (%.1fx vs fused CPU)\n", c_fused, t_fused / c_fused);
    print_rows(c_fused, c_fused_aten, c_none, c_sds, c_aten, "CUDA", 1);
    const Result fc = fused_native(g.grid, gp, g.v);
    const Result bc = aten_at_sds_interface(g.grid, gp, g.v, 1);
    std::printf("  equal output CUDA: max |out diff| %.3g, max |grad diff| %.3g\n",
                max_abs_diff(fc.out, bc.out), max_abs_diff(fc.grad, bc.grad));
  }
}

}  // namespace

int main() {
  run(64, 4, 4, 64, 96);
  return 0;
}
