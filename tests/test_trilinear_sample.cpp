// trilinear_sample: the fused CPU kernel against ATen's grid sampler (forward and autograd
// backward), finite differences, precision, determinism, input checks, and CUDA against CPU.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include "testing.h"

#include <tuple>
#include <vector>

#include "helpers.h"
#include "sds/core/error.h"
#include "sds/ops/trilinear_sample.h"

namespace {

using sds::ops::trilinear_sample;
using sds::test::max_abs_diff;

// Ground truth: ATen's 3D grid sampler (trilinear, zero padding, align_corners) on the same grid
// in its [1, C, D, H, W] layout, reshaped to [N, C].
at::Tensor reference(const at::Tensor& grid, const at::Tensor& points) {
  const int64_t n = points.size(0);
  const int64_t c = grid.size(3);
  const at::Tensor out =
      at::grid_sampler(grid.permute({3, 0, 1, 2}).unsqueeze(0), points.reshape({1, 1, 1, n, 3}),
                       /*interpolation_mode=*/0, /*padding_mode=*/0, /*align_corners=*/true);
  return out.reshape({c, n}).t();
}

at::Tensor random_grid(int64_t D, int64_t H, int64_t W, int64_t C, at::ScalarType dtype) {
  return at::randn({D, H, W, C}, at::TensorOptions().dtype(dtype));
}

// Points of every kind: inside the cube, exactly on its faces, exactly on voxel centres (weights
// of exactly 0 and 1), just outside (partial zero padding) and far outside (all zero).
at::Tensor mixed_points(int64_t D, int64_t H, int64_t W, int64_t per_kind, at::ScalarType dtype) {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor inside = at::rand({per_kind, 3}, opts) * 2 - 1;
  // Each coordinate -1, 1 or random: faces, edges and corners of the cube.
  const at::Tensor pick = at::randint(0, 3, {per_kind, 3}, opts);
  const at::Tensor on_faces =
      at::where(pick == 0, -1.0, at::where(pick == 1, 1.0, at::rand({per_kind, 3}, opts) * 2 - 1));
  // Voxel centres: -1 + 2 i / (size - 1) on each axis (0 for a size of 1).
  std::vector<at::Tensor> centre_cols;
  for (const int64_t size : {W, H, D}) {
    const at::Tensor i = at::randint(0, size, {per_kind, 1}, opts);
    centre_cols.push_back(size > 1 ? -1 + 2 * i / static_cast<double>(size - 1) : i * 0);
  }
  const at::Tensor centres = at::cat(centre_cols, 1);
  const at::Tensor near_out = (at::rand({per_kind, 3}, opts) * 2 - 1) * 1.4;
  const at::Tensor far_out = (at::rand({per_kind, 3}, opts) * 2 - 1) * 6;
  return at::cat({inside, on_faces, centres, near_out, far_out}).to(dtype);
}

// Gradient of sum(trilinear_sample(grid, points) * v) w.r.t. grid through `op`.
template <class Op>
at::Tensor grid_grad(Op op, const at::Tensor& grid, const at::Tensor& points, const at::Tensor& v) {
  const at::Tensor g = grid.detach().clone().requires_grad_(true);
  const at::Tensor l = (op(g, points) * v).sum();
  return torch::autograd::grad({l}, {g})[0];
}

// Restores ATen's thread count on scope exit.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadCount() { at::set_num_threads(saved); }
  int saved;
};

}  // namespace

TEST_CASE("trilinear_sample forward matches at::grid_sampler (float64)",
          "[ops][trilinear_sample]") {
  at::manual_seed(1);
  for (const auto& [D, H, W] : {std::tuple<int64_t, int64_t, int64_t>{5, 6, 7},
                                {8, 8, 8},
                                {2, 9, 4},
                                {1, 4, 3},
                                {3, 1, 2},
                                {1, 1, 1}}) {
    for (const int64_t C : {1, 3, 4, 7, 8, 9}) {
      INFO("grid [" << D << ", " << H << ", " << W << ", " << C << "]");
      const at::Tensor grid = random_grid(D, H, W, C, at::kDouble);
      const at::Tensor points = mixed_points(D, H, W, 200, at::kDouble);
      const at::Tensor got = trilinear_sample(grid, points);
      REQUIRE(got.sizes() == at::IntArrayRef({points.size(0), C}));
      REQUIRE(got.scalar_type() == at::kDouble);
      CHECK(max_abs_diff(got, reference(grid, points)) < 1e-12);
    }
  }
}

TEST_CASE("trilinear_sample forward: exact values, layouts, empty shapes",
          "[ops][trilinear_sample]") {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  SECTION("voxel centres return the voxel; far points return zero") {
    const at::Tensor grid = at::arange(2 * 3 * 5 * 2, opts).view({2, 3, 5, 2});
    // Centres: x over W = 5 at -1, -0.5, 0, 0.5, 1; y over H = 3 at -1, 0, 1; z over D = 2 at +-1.
    const at::Tensor points = at::tensor({-0.5, 0.0, 1.0, 5.0, 0.0, 0.0}, opts).view({2, 3});
    const at::Tensor got = trilinear_sample(grid, points);
    CHECK(max_abs_diff(got[0], grid[1][1][1]) == 0.0);
    CHECK(got[1].abs().max().item<double>() == 0.0);
  }
  SECTION("midpoint is the mean of the 8 corners; half a voxel out halves a face") {
    const at::Tensor grid = at::rand({2, 2, 2, 3}, opts);
    const at::Tensor mid = trilinear_sample(grid, at::zeros({1, 3}, opts));
    CHECK(max_abs_diff(mid[0], grid.mean({0, 1, 2})) < 1e-15);
    // With W = 2 one voxel spans [-1, 1], so x = 2 is half a voxel beyond the last centre: that
    // voxel at weight 1/2, the outside neighbour contributes zero.
    const at::Tensor half_out =
        trilinear_sample(grid, at::tensor({2.0, -1.0, -1.0}, opts).view({1, 3}));
    CHECK(max_abs_diff(half_out[0], grid[0][0][1] * 0.5) < 1e-15);
  }
  SECTION("non-contiguous grid and points") {
    at::manual_seed(2);
    const at::Tensor cdhw = at::randn({4, 5, 6, 7}, opts);
    const at::Tensor grid = cdhw.permute({1, 2, 3, 0});  // [D, H, W, C] view of [C, D, H, W]
    REQUIRE_FALSE(grid.is_contiguous());
    const at::Tensor points = mixed_points(5, 6, 7, 50, at::kDouble).t().contiguous().t();
    REQUIRE_FALSE(points.is_contiguous());
    CHECK(max_abs_diff(trilinear_sample(grid, points), reference(grid, points)) < 1e-12);
  }
  SECTION("no points, no channels") {
    const at::Tensor none = trilinear_sample(at::rand({2, 3, 4, 4}, opts), at::zeros({0, 3}, opts));
    CHECK(none.sizes() == at::IntArrayRef({0, 4}));
    const at::Tensor no_c = trilinear_sample(at::rand({2, 3, 4, 0}, opts), at::zeros({5, 3}, opts));
    CHECK(no_c.sizes() == at::IntArrayRef({5, 0}));
    // Backward of no points is a zero gradient of the grid's shape.
    const at::Tensor g = at::rand({2, 3, 4, 4}, opts).requires_grad_(true);
    trilinear_sample(g, at::zeros({0, 3}, opts)).sum().backward();
    REQUIRE(g.grad().defined());
    CHECK(g.grad().sizes() == g.sizes());
    CHECK(g.grad().abs().max().item<double>() == 0.0);
  }
}

TEST_CASE("trilinear_sample backward matches grid_sampler autograd (float64)",
          "[ops][trilinear_sample]") {
  at::manual_seed(3);
  for (const auto& [D, H, W] :
       {std::tuple<int64_t, int64_t, int64_t>{5, 6, 7}, {9, 3, 4}, {1, 4, 3}, {2, 1, 1}}) {
    for (const int64_t C : {1, 3, 4, 7, 9}) {
      INFO("grid [" << D << ", " << H << ", " << W << ", " << C << "]");
      const at::Tensor grid = random_grid(D, H, W, C, at::kDouble);
      const at::Tensor points = mixed_points(D, H, W, 300, at::kDouble);
      const at::Tensor v = at::randn({points.size(0), C}, grid.options());
      const at::Tensor got = grid_grad(trilinear_sample, grid, points, v);
      const at::Tensor want = grid_grad(reference, grid, points, v);
      REQUIRE(got.sizes() == grid.sizes());
      CHECK(max_abs_diff(got, want) < 1e-11);
      CHECK(got.abs().max().item<double>() > 1e-3);  // not trivially zero
    }
  }
  SECTION("many points: several gradient buffers") {
    // 50k points on a small grid split into one chunk per thread; 3 threads force at least 3.
    const ThreadCount threads(3);
    const at::Tensor grid = random_grid(6, 7, 8, 4, at::kDouble);
    const at::Tensor points = mixed_points(6, 7, 8, 10000, at::kDouble);
    const at::Tensor v = at::randn({points.size(0), 4}, grid.options());
    CHECK(max_abs_diff(grid_grad(trilinear_sample, grid, points, v),
                       grid_grad(reference, grid, points, v)) < 1e-10);
  }
  SECTION("non-leaf grid and a non-contiguous upstream gradient") {
    const at::Tensor base = random_grid(3, 4, 5, 4, at::kDouble).requires_grad_(true);
    const at::Tensor points = mixed_points(3, 4, 5, 100, at::kDouble);
    const at::Tensor v = at::randn({4, points.size(0)}, base.options()).t();  // non-contiguous
    (trilinear_sample(base * 2, points) * 1).backward(v);
    const at::Tensor want = 2 * grid_grad(reference, base.detach(), points, v);
    CHECK(max_abs_diff(base.grad(), want) < 1e-11);
  }
}

TEST_CASE("trilinear_sample backward agrees with finite differences", "[ops][trilinear_sample]") {
  at::manual_seed(4);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor grid = at::randn({2, 3, 2, 2}, opts);
  const at::Tensor points = mixed_points(2, 3, 2, 4, at::kDouble);
  const at::Tensor v = at::randn({points.size(0), 2}, opts);
  const at::Tensor got = grid_grad(trilinear_sample, grid, points, v);
  const at::Tensor fd = sds::test::finite_difference(
      [&](const at::Tensor& g) { return (trilinear_sample(g, points) * v).sum(); }, grid);
  CHECK(max_abs_diff(got, fd) < 1e-7);
  CHECK(got.abs().max().item<double>() > 1e-2);
}

TEST_CASE("trilinear_sample float32 matches float64", "[ops][trilinear_sample]") {
  at::manual_seed(5);
  const at::Tensor grid64 = random_grid(16, 12, 10, 4, at::kDouble);
  const at::Tensor points64 = mixed_points(16, 12, 10, 4000, at::kDouble);
  const at::Tensor v64 = at::randn({points64.size(0), 4}, grid64.options());
  const at::Tensor grid32 = grid64.to(at::kFloat);
  const at::Tensor points32 = points64.to(at::kFloat);
  const at::Tensor v32 = v64.to(at::kFloat);

  const at::Tensor o32 = trilinear_sample(grid32, points32);
  REQUIRE(o32.scalar_type() == at::kFloat);
  // Against float64 sampling of the same float32 points (the rounding of the points themselves
  // moves samples by up to |grad| * eps * size).
  const at::Tensor o64 = trilinear_sample(grid64, points32.to(at::kDouble));
  CHECK(max_abs_diff(o32, o64) < 1e-5);
  CHECK(max_abs_diff(o32, reference(grid32, points32)) < 1e-5);

  const at::Tensor g32 = grid_grad(trilinear_sample, grid32, points32, v32);
  const at::Tensor g64 = grid_grad(trilinear_sample, grid64, points32.to(at::kDouble), v64);
  REQUIRE(g32.scalar_type() == at::kFloat);
  CHECK(max_abs_diff(g32, g64) < 1e-5 * g64.abs().max().item<double>());
}

TEST_CASE("trilinear_sample backward is deterministic", "[ops][trilinear_sample]") {
  at::manual_seed(6);
  for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    INFO("dtype " << c10::toString(dtype));
    const at::Tensor grid = random_grid(8, 8, 8, 4, dtype);
    const at::Tensor points = mixed_points(8, 8, 8, 20000, dtype);
    const at::Tensor v = at::randn({points.size(0), 4}, grid.options());
    for (const int threads : {1, 2, 4}) {
      INFO("threads " << threads);
      const ThreadCount guard(threads);
      const at::Tensor a = grid_grad(trilinear_sample, grid, points, v);
      const at::Tensor b = grid_grad(trilinear_sample, grid, points, v);
      const at::Tensor c = grid_grad(trilinear_sample, grid, points, v);
      CHECK(at::equal(a, b));
      CHECK(at::equal(a, c));
    }
  }
}

TEST_CASE("trilinear_sample rejects bad input with sds::Error", "[ops][trilinear_sample]") {
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor grid = at::rand({3, 4, 5, 4}, opts);
  const at::Tensor points = at::rand({10, 3}, opts);
  // Ranks and sizes.
  REQUIRE_THROWS_AS(trilinear_sample(grid[0], points), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid.unsqueeze(0), points), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid, points.view({30})), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid, points.unsqueeze(0)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid, points.narrow(1, 0, 2)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid, at::rand({10, 4}, opts)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(at::rand({3, 0, 5, 4}, opts), points), sds::Error);
  // Dtypes.
  REQUIRE_THROWS_AS(trilinear_sample(grid, points.to(at::kDouble)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid.to(at::kDouble), points), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid.to(at::kInt), points.to(at::kInt)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid.to(at::kHalf), points.to(at::kHalf)), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(at::Tensor(), points), sds::Error);
  REQUIRE_THROWS_AS(trilinear_sample(grid, at::Tensor()), sds::Error);
  // Points are not differentiated.
  const at::Tensor p_grad = points.clone().requires_grad_(true);
  REQUIRE_THROWS_AS(trilinear_sample(grid, p_grad), sds::Error);
  try {
    trilinear_sample(grid.detach().requires_grad_(true), p_grad);
    FAIL("expected sds::Error");
  } catch (const sds::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("points") && Catch::Contains("not differentiated"));
  }
  // The message names the argument and the expected layout.
  try {
    trilinear_sample(grid, points.narrow(1, 0, 2));
    FAIL("expected sds::Error");
  } catch (const sds::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("points") && Catch::Contains("[N, 3]"));
  }
  try {
    trilinear_sample(grid[0], points);
    FAIL("expected sds::Error");
  } catch (const sds::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("grid") && Catch::Contains("[D, H, W, C]"));
  }
}

TEST_CASE("trilinear_sample CUDA matches CPU", "[ops][trilinear_sample][cuda]") {
  SDS_REQUIRE_CUDA();
  at::manual_seed(7);
  const at::Device cuda(at::kCUDA);
  for (const at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    for (const int64_t C : {1, 4, 7}) {
      INFO("dtype " << c10::toString(dtype) << ", C " << C);
      // Float32 backward: atomics add in any order, so sums of ~100 terms differ in rounding.
      const double tol = dtype == at::kDouble ? 1e-12 : 1e-5;
      const at::Tensor grid = random_grid(20, 17, 23, C, dtype);
      const at::Tensor points = mixed_points(20, 17, 23, 20000, dtype);
      const at::Tensor v = at::randn({points.size(0), C}, grid.options());

      const at::Tensor oc = trilinear_sample(grid, points);
      const at::Tensor og = trilinear_sample(grid.to(cuda), points.to(cuda));
      REQUIRE(og.is_cuda());
      CHECK(max_abs_diff(og, oc) < tol);

      const at::Tensor gc = grid_grad(trilinear_sample, grid, points, v);
      const at::Tensor gg = grid_grad(trilinear_sample, grid.to(cuda), points.to(cuda), v.to(cuda));
      REQUIRE(gg.is_cuda());
      CHECK(max_abs_diff(gg, gc) < tol * 10 * gc.abs().max().item<double>());
      CHECK(max_abs_diff(gg, grid_grad(reference, grid.to(cuda), points.to(cuda), v.to(cuda))) <
            tol * 10 * gc.abs().max().item<double>());
    }
  }
}
