// composite_rays: the fused CPU kernel against a pure-ATen composition (forward and autograd
// backward), finite differences, precision, input checks, and CUDA against CPU.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "testing.h"

#include "helpers.h"
#include "reference/composite_rays_reference.h"
#include "sds/core/error.h"
#include "sds/ops/composite_rays.h"

namespace {

using sds::ops::composite_rays;
using sds::ops::CompositeRaysOutput;
using sds::test::max_abs_diff;

// Ground truth: the formula written with ATen ops, differentiated by autograd.
const auto reference = sds::test::composite_rays_reference;

struct Inputs {
  at::Tensor sigmas, rgbs, deltas, ts;
};

// Random rays; ray 0 is empty space (zero density) and ray 1 is nearly a wall (huge density).
Inputs random_inputs(int64_t R, int64_t S, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor sigmas = at::rand({R, S}, opts) * 20;
  at::Tensor rgbs = at::rand({R, S, 3}, opts);
  at::Tensor deltas = at::rand({R, S}, opts) * 0.1 + 0.01;
  at::Tensor ts = 2 + at::cumsum(deltas, 1) - deltas;
  if (R > 1) {
    sigmas[0].zero_();
    sigmas[1] = sigmas[1] * 1e4 + 1e4;  // tau >= 100 at every sample
  }
  return {sigmas.to(dtype), rgbs.to(dtype), deltas.to(dtype), ts.to(dtype)};
}

// Random upstream gradients for the four outputs; a flag set to false leaves one out.
struct Upstream {
  at::Tensor v_rgb, v_alpha, v_depth, v_weights;
};

Upstream random_upstream(int64_t R, int64_t S, at::ScalarType dtype) {
  const auto opts = at::TensorOptions().dtype(dtype);
  return {at::randn({R, 3}, opts), at::randn({R}, opts), at::randn({R}, opts),
          at::randn({R, S}, opts)};
}

at::Tensor loss(const CompositeRaysOutput& o, const Upstream& v, bool use_rgb = true,
                bool use_alpha = true, bool use_depth = true, bool use_weights = true) {
  at::Tensor l = at::zeros({}, o.rgb.options());
  if (use_rgb) l = l + (o.rgb * v.v_rgb).sum();
  if (use_alpha) l = l + (o.alpha * v.v_alpha).sum();
  if (use_depth) l = l + (o.depth * v.v_depth).sum();
  if (use_weights) l = l + (o.weights * v.v_weights).sum();
  return l;
}

struct Grads {
  at::Tensor sigmas, rgbs;
};

template <class Op>
Grads grads_of(Op op, const Inputs& in, const Upstream& v, bool use_rgb = true,
               bool use_alpha = true, bool use_depth = true, bool use_weights = true) {
  at::Tensor s = in.sigmas.detach().clone().requires_grad_(true);
  at::Tensor c = in.rgbs.detach().clone().requires_grad_(true);
  const at::Tensor l =
      loss(op(s, c, in.deltas, in.ts), v, use_rgb, use_alpha, use_depth, use_weights);
  auto g = torch::autograd::grad({l}, {s, c}, {}, std::nullopt, false, true);
  auto or_zeros = [](const at::Tensor& t, const at::Tensor& like) {
    return t.defined() ? t : at::zeros_like(like);
  };
  return {or_zeros(g[0], s), or_zeros(g[1], c)};
}

}  // namespace

TEST_CASE("composite_rays forward matches the ATen reference (float64)", "[ops][composite_rays]") {
  const Inputs in = random_inputs(33, 17, at::kDouble, 1);
  const CompositeRaysOutput got = composite_rays(in.sigmas, in.rgbs, in.deltas, in.ts);
  const CompositeRaysOutput want = reference(in.sigmas, in.rgbs, in.deltas, in.ts);
  REQUIRE(got.rgb.sizes() == at::IntArrayRef({33, 3}));
  REQUIRE(got.alpha.sizes() == at::IntArrayRef({33}));
  REQUIRE(got.depth.sizes() == at::IntArrayRef({33}));
  REQUIRE(got.weights.sizes() == at::IntArrayRef({33, 17}));
  CHECK(max_abs_diff(got.rgb, want.rgb) < 1e-12);
  CHECK(max_abs_diff(got.alpha, want.alpha) < 1e-12);
  CHECK(max_abs_diff(got.depth, want.depth) < 1e-12);
  CHECK(max_abs_diff(got.weights, want.weights) < 1e-12);
  // Empty space composites to nothing; a wall is opaque at its first sample.
  CHECK(got.alpha[0].item<double>() == 0.0);
  CHECK(got.rgb[0].abs().max().item<double>() == 0.0);
  CHECK(got.alpha[1].item<double>() == Approx(1.0).margin(1e-12));
  CHECK(got.weights[1][0].item<double>() == Approx(1.0).margin(1e-12));
  CHECK(max_abs_diff(got.rgb[1], in.rgbs[1][0]) < 1e-12);
}

TEST_CASE("composite_rays forward handles non-contiguous inputs and empty shapes",
          "[ops][composite_rays]") {
  const Inputs in = random_inputs(9, 6, at::kDouble, 2);
  const at::Tensor sig_t = in.sigmas.t().contiguous().t();  // same values, transposed strides
  REQUIRE_FALSE(sig_t.is_contiguous());
  const CompositeRaysOutput got = composite_rays(sig_t, in.rgbs, in.deltas, in.ts);
  const CompositeRaysOutput want = reference(in.sigmas, in.rgbs, in.deltas, in.ts);
  CHECK(max_abs_diff(got.rgb, want.rgb) < 1e-12);
  CHECK(max_abs_diff(got.weights, want.weights) < 1e-12);

  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const CompositeRaysOutput no_rays =
      composite_rays(at::zeros({0, 4}, opts), at::zeros({0, 4, 3}, opts), at::zeros({0, 4}, opts),
                     at::zeros({0, 4}, opts));
  CHECK(no_rays.rgb.sizes() == at::IntArrayRef({0, 3}));
  const CompositeRaysOutput no_samples =
      composite_rays(at::zeros({2, 0}, opts), at::zeros({2, 0, 3}, opts), at::zeros({2, 0}, opts),
                     at::zeros({2, 0}, opts));
  CHECK(no_samples.alpha.abs().max().item<double>() == 0.0);
}

TEST_CASE("composite_rays backward matches ATen autograd (float64)", "[ops][composite_rays]") {
  const int64_t R = 41, S = 23;
  const Inputs in = random_inputs(R, S, at::kDouble, 3);
  const Upstream v = random_upstream(R, S, at::kDouble);

  SECTION("gradients on all four outputs") {
    const Grads got = grads_of(composite_rays, in, v);
    const Grads want = grads_of(reference, in, v);
    CHECK(max_abs_diff(got.sigmas, want.sigmas) < 1e-11);
    CHECK(max_abs_diff(got.rgbs, want.rgbs) < 1e-11);
    CHECK(got.sigmas.abs().max().item<double>() > 1e-3);  // not trivially zero
  }
  SECTION("gradients on one output at a time") {
    for (int which = 0; which < 4; ++which) {
      INFO("output " << which);
      const Grads got =
          grads_of(composite_rays, in, v, which == 0, which == 1, which == 2, which == 3);
      const Grads want = grads_of(reference, in, v, which == 0, which == 1, which == 2, which == 3);
      CHECK(max_abs_diff(got.sigmas, want.sigmas) < 1e-11);
      CHECK(max_abs_diff(got.rgbs, want.rgbs) < 1e-11);
    }
  }
  SECTION("only rgbs require grad") {
    at::Tensor c = in.rgbs.clone().requires_grad_(true);
    const at::Tensor l = loss(composite_rays(in.sigmas, c, in.deltas, in.ts), v);
    l.backward();
    const Grads want = grads_of(reference, in, v);
    REQUIRE(c.grad().defined());
    CHECK(max_abs_diff(c.grad(), want.rgbs) < 1e-11);
  }
}

TEST_CASE("composite_rays backward agrees with finite differences", "[ops][composite_rays]") {
  const int64_t R = 3, S = 5;
  at::manual_seed(4);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor sigmas = at::rand({R, S}, opts) * 5;
  const at::Tensor rgbs = at::rand({R, S, 3}, opts);
  const at::Tensor deltas = at::rand({R, S}, opts) * 0.3 + 0.05;
  const at::Tensor ts = 1 + at::cumsum(deltas, 1);
  const Upstream v = random_upstream(R, S, at::kDouble);

  const Grads got = grads_of(composite_rays, Inputs{sigmas, rgbs, deltas, ts}, v);
  const at::Tensor fd_sigmas = sds::test::finite_difference(
      [&](const at::Tensor& s) { return loss(composite_rays(s, rgbs, deltas, ts), v); }, sigmas);
  const at::Tensor fd_rgbs = sds::test::finite_difference(
      [&](const at::Tensor& c) { return loss(composite_rays(sigmas, c, deltas, ts), v); }, rgbs);
  CHECK(max_abs_diff(got.sigmas, fd_sigmas) < 1e-7);
  CHECK(max_abs_diff(got.rgbs, fd_rgbs) < 1e-7);
}

TEST_CASE("composite_rays float32 matches float64", "[ops][composite_rays]") {
  const int64_t R = 64, S = 96;
  const Inputs in64 = random_inputs(R, S, at::kDouble, 5);
  const Inputs in32{in64.sigmas.to(at::kFloat), in64.rgbs.to(at::kFloat),
                    in64.deltas.to(at::kFloat), in64.ts.to(at::kFloat)};
  const Upstream v64 = random_upstream(R, S, at::kDouble);
  const Upstream v32{v64.v_rgb.to(at::kFloat), v64.v_alpha.to(at::kFloat),
                     v64.v_depth.to(at::kFloat), v64.v_weights.to(at::kFloat)};

  const CompositeRaysOutput o64 = composite_rays(in64.sigmas, in64.rgbs, in64.deltas, in64.ts);
  const CompositeRaysOutput o32 = composite_rays(in32.sigmas, in32.rgbs, in32.deltas, in32.ts);
  REQUIRE(o32.rgb.scalar_type() == at::kFloat);
  CHECK(max_abs_diff(o32.rgb, o64.rgb) < 1e-5);
  CHECK(max_abs_diff(o32.alpha, o64.alpha) < 1e-5);
  CHECK(max_abs_diff(o32.depth, o64.depth) < 1e-5 * 8);  // depths are ~2..8
  CHECK(max_abs_diff(o32.weights, o64.weights) < 1e-5);

  const Grads g64 = grads_of(composite_rays, in64, v64);
  const Grads g32 = grads_of(composite_rays, in32, v32);
  REQUIRE(g32.sigmas.scalar_type() == at::kFloat);
  CHECK(max_abs_diff(g32.sigmas, g64.sigmas) < 1e-5);
  CHECK(max_abs_diff(g32.rgbs, g64.rgbs) < 1e-5);
}

TEST_CASE("composite_rays rejects bad input with sds::Error", "[ops][composite_rays]") {
  const Inputs in = random_inputs(4, 5, at::kFloat, 6);
  // Shapes.
  REQUIRE_THROWS_AS(composite_rays(in.sigmas.view({20}), in.rgbs, in.deltas, in.ts), sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas, in.rgbs.narrow(2, 0, 2), in.deltas, in.ts),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas, in.rgbs.narrow(1, 0, 4), in.deltas, in.ts),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas, in.rgbs, in.deltas.narrow(0, 0, 3), in.ts),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas, in.rgbs, in.deltas, in.ts.unsqueeze(0)), sds::Error);
  // Dtypes.
  REQUIRE_THROWS_AS(composite_rays(in.sigmas, in.rgbs.to(at::kDouble), in.deltas, in.ts),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas.to(at::kDouble), in.rgbs, in.deltas, in.ts),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas.to(at::kInt), in.rgbs.to(at::kInt),
                                   in.deltas.to(at::kInt), in.ts.to(at::kInt)),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(in.sigmas.to(at::kHalf), in.rgbs.to(at::kHalf),
                                   in.deltas.to(at::kHalf), in.ts.to(at::kHalf)),
                    sds::Error);
  REQUIRE_THROWS_AS(composite_rays(at::Tensor(), in.rgbs, in.deltas, in.ts), sds::Error);
  // The message names the argument and the expected layout.
  try {
    composite_rays(in.sigmas, in.rgbs.narrow(2, 0, 2), in.deltas, in.ts);
    FAIL("expected sds::Error");
  } catch (const sds::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("rgbs") && Catch::Contains("[R, S, 3]"));
  }
}

TEST_CASE("composite_rays CUDA matches CPU", "[ops][composite_rays][cuda]") {
  SDS_REQUIRE_CUDA();
  const int64_t R = 1000, S = 64;
  for (const at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    INFO("dtype " << c10::toString(dtype));
    // --use_fast_math makes the float32 exp a few ulp off the CPU one.
    const double tol = dtype == at::kDouble ? 1e-12 : 2e-5;
    const Inputs cpu = random_inputs(R, S, dtype, 7);
    const Inputs cuda{cpu.sigmas.cuda(), cpu.rgbs.cuda(), cpu.deltas.cuda(), cpu.ts.cuda()};
    const Upstream v = random_upstream(R, S, dtype);
    const Upstream v_cuda{v.v_rgb.cuda(), v.v_alpha.cuda(), v.v_depth.cuda(), v.v_weights.cuda()};

    const CompositeRaysOutput oc = composite_rays(cpu.sigmas, cpu.rgbs, cpu.deltas, cpu.ts);
    const CompositeRaysOutput og = composite_rays(cuda.sigmas, cuda.rgbs, cuda.deltas, cuda.ts);
    REQUIRE(og.rgb.is_cuda());
    CHECK(max_abs_diff(og.rgb, oc.rgb) < tol);
    CHECK(max_abs_diff(og.alpha, oc.alpha) < tol);
    CHECK(max_abs_diff(og.depth, oc.depth) < tol * 10);
    CHECK(max_abs_diff(og.weights, oc.weights) < tol);

    const Grads gc = grads_of(composite_rays, cpu, v);
    const Grads gg = grads_of(composite_rays, cuda, v_cuda);
    REQUIRE(gg.sigmas.is_cuda());
    CHECK(max_abs_diff(gg.sigmas, gc.sigmas) < tol * 10);
    CHECK(max_abs_diff(gg.rgbs, gc.rgbs) < tol);
    for (int which = 0; which < 4; ++which) {
      const Grads gc1 =
          grads_of(composite_rays, cpu, v, which == 0, which == 1, which == 2, which == 3);
      const Grads gg1 =
          grads_of(composite_rays, cuda, v_cuda, which == 0, which == 1, which == 2, which == 3);
      CHECK(max_abs_diff(gg1.sigmas, gc1.sigmas) < tol * 10);
      CHECK(max_abs_diff(gg1.rgbs, gc1.rgbs) < tol);
    }
  }
}
