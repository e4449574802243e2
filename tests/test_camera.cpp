#include "testing.h"

#include <algorithm>
#include <cmath>

#include "helpers.h"
#include "sds/camera/camera.h"
#include "sds/camera/grid_sampler.h"
#include "sds/camera/sampler.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"

using Catch::Matchers::Contains;

TEST_CASE("a camera at azimuth 0 sits on +X, looks at the origin, +Z up, +Y right", "[camera]") {
  const sds::Camera c = sds::Camera::orbit(0.0, 0.0, 3.0, 40.0, 5, 5);
  at::Tensor m = c.c2w();
  CHECK(m[0][3].item<double>() == Approx(3.0));
  CHECK(m[1][3].item<double>() == Approx(0.0).margin(1e-12));
  CHECK(m[2][1].item<double>() == Approx(1.0));  // camera up = world +Z
  CHECK(m[1][0].item<double>() == Approx(1.0));  // camera right = world +Y
  sds::Rays r = sds::CameraBatch({c}).rays(1, at::kDouble);
  at::Tensor centre = r.directions[0][2][2];
  CHECK(centre[0].item<double>() == Approx(-1.0));
  // The right edge of the image looks towards +Y, the top towards +Z.
  CHECK(r.directions[0][2][4][1].item<double>() > 0);
  CHECK(r.directions[0][0][2][2].item<double>() > 0);
}

TEST_CASE("elevation and azimuth place the camera on the documented sphere", "[camera]") {
  const sds::Camera c = sds::Camera::orbit(30.0, 90.0, 2.0, 40.0, 4, 4);
  at::Tensor p = c.c2w().index({at::indexing::Slice(0, 3), 3});
  const double e = M_PI / 6;
  CHECK(p[0].item<double>() == Approx(0.0).margin(1e-12));
  CHECK(p[1].item<double>() == Approx(2 * std::cos(e)));
  CHECK(p[2].item<double>() == Approx(2 * std::sin(e)));
}

TEST_CASE("the focal length matches the vertical field of view", "[camera]") {
  const sds::Camera c = sds::Camera::orbit(0, 0, 3, 40, 64, 64);
  CHECK(c.fy == Approx(32.0 / std::tan(20.0 * M_PI / 180.0)));
  // The top-row ray is fovy/2 minus half a pixel from the axis.
  sds::Rays r = sds::CameraBatch({c}).rays(1, at::kDouble);
  const double angle = std::acos(-r.directions[0][0][31][0].item<double>() /
                                 r.directions[0][0][31].norm().item<double>());
  CHECK(angle * 180 / M_PI < 20.0);
  CHECK(angle * 180 / M_PI > 19.0);
}

TEST_CASE("supersampled rays average to the pixel ray", "[camera]") {
  sds::CameraBatch b({sds::Camera::orbit(10, 20, 3, 40, 6, 6)});
  at::Tensor d1 = b.rays(1, at::kDouble).directions;
  at::Tensor d3 = b.rays(3, at::kDouble).directions;
  REQUIRE(d3.sizes() == at::IntArrayRef({1, 18, 18, 3}));
  at::Tensor mean = d3.view({1, 6, 3, 6, 3, 3}).mean({2, 4});
  CHECK((mean / mean.norm(2, -1, true) - d1).abs().max().item<double>() < 1e-3);
}

TEST_CASE("the orbit sampler is seeded and stays in its ranges", "[camera]") {
  sds::OrbitSamplerOptions o;
  o.elevation_deg = {5, 25};
  o.batch_size = 8;
  sds::OrbitSampler s(o);
  auto g1 = sds::make_generator(3), g2 = sds::make_generator(3);
  auto a = s.sample(0, g1), b = s.sample(0, g2);
  for (int64_t i = 0; i < 8; ++i) {
    CHECK(a[i].azimuth_deg() == b[i].azimuth_deg());
    CHECK(a[i].elevation_deg() >= 5);
    CHECK(a[i].elevation_deg() <= 25);
    // Stratified azimuths: one per eighth of the circle.
    CHECK(a[i].azimuth_deg() >= -180 + 45 * i);
    CHECK(a[i].azimuth_deg() <= -180 + 45 * (i + 1));
  }
  o.elevation_deg = {30, 10};
  REQUIRE_THROWS_AS(sds::OrbitSampler(o), sds::Error);
}

TEST_CASE("the grid sampler draws only grid views, one per arc, and reaches all of them",
          "[camera]") {
  sds::GridSamplerOptions o;
  o.elevations_deg = {0, 20};
  o.azimuth_step_deg = 30;  // 12 azimuths, three per arc of a batch of 4
  o.height = o.width = 8;
  sds::GridSampler s(o);
  const std::vector<sds::Camera> grid = sds::grid_views({0, 20}, 30, 3.0, 40.0, 8, 8);
  auto grid_index = [&](const sds::Camera& c) {
    for (size_t k = 0; k < grid.size(); ++k) {
      if (at::allclose(grid[k].c2w(), c.c2w(), 1e-9, 1e-9)) return static_cast<int64_t>(k);
    }
    return int64_t{-1};
  };
  std::vector<int> hits(grid.size(), 0);
  auto g = sds::make_generator(5);
  for (int step = 0; step < 200; ++step) {
    sds::CameraBatch batch = s.sample(step, g);
    REQUIRE(batch.size() == 4);
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t k = grid_index(batch[i]);
      REQUIRE(k >= 0);
      const int64_t azimuth = k % 12;
      CHECK(azimuth / 3 == i);  // view i from the i-th quarter of the azimuths
      hits[k]++;
    }
  }
  // 800 draws over 24 views: each expected about 33 times.
  CHECK(*std::min_element(hits.begin(), hits.end()) > 10);
  auto g1 = sds::make_generator(9), g2 = sds::make_generator(9);
  CHECK(at::equal(s.sample(0, g1).c2w(), s.sample(0, g2).c2w()));

  o.elevations_deg = {};
  CHECK_THROWS_WITH(sds::GridSampler(o), Contains("elevations_deg"));
  o.elevations_deg = {0, 95};
  CHECK_THROWS_WITH(sds::GridSampler(o), Contains("[-90, 90]"));
  o.elevations_deg = {0};
  o.azimuth_step_deg = 0;
  CHECK_THROWS_WITH(sds::GridSampler(o), Contains("azimuth_step_deg"));
  o.azimuth_step_deg = 10;
  o.batch_size = 0;
  CHECK_THROWS_WITH(sds::GridSampler(o), Contains("batch_size"));
}

TEST_CASE("resolution milestones switch image size and batch at the given steps", "[camera]") {
  // threestudio's form: one value per stage, or one number for all stages.
  const sds::Json config = sds::Json::parse(R"({"type": "grid", "elevations_deg": [0, 30],
      "azimuth_step_deg": 30, "height": [4, 8, 16], "width": [6, 8, 16],
      "batch_size": [1, 2, 4], "resolution_milestones": [3, 5]})");
  auto sampler = sds::make<sds::CameraSampler>(config, "camera_sampler");
  CHECK(sampler->height() == 16);  // the final stage's size: the evaluation views'
  auto g = sds::make_generator(1);
  const std::vector<std::array<int64_t, 4>> expected = {
      {0, 1, 4, 6}, {2, 1, 4, 6}, {3, 2, 8, 8}, {4, 2, 8, 8}, {5, 4, 16, 16}, {99, 4, 16, 16}};
  for (const auto& [step, b, h, w] : expected) {
    sds::CameraBatch batch = sampler->sample(step, g);
    CHECK(batch.size() == b);
    CHECK(batch.height() == h);
    CHECK(batch.width() == w);
    // Still on the grid at every size: the same poses as the prior's components.
    const auto grid = sds::grid_views({0, 30}, 30, 3.0, 40.0, h, w);
    bool on_grid = false;
    for (const auto& v : grid) {
      on_grid = on_grid || (at::allclose(v.c2w(), batch[0].c2w()) && v.fx == batch[0].fx);
    }
    CHECK(on_grid);
  }
  sds::Json orbit = sds::Json::parse(
      R"({"type": "orbit", "height": [8, 16], "width": 16, "batch_size": 2,
          "resolution_milestones": [10]})");
  auto o = sds::make<sds::CameraSampler>(orbit, "camera_sampler");
  CHECK(o->sample(9, g).height() == 8);
  CHECK(o->sample(9, g).width() == 16);
  CHECK(o->sample(10, g).height() == 16);

  orbit["height"] = sds::Json::array({8, 16, 32});
  CHECK_THROWS_WITH(sds::make<sds::CameraSampler>(orbit, "camera_sampler"),
                    Contains("one value per resolution stage (2") && Contains("got 3"));
  orbit["height"] = 16;
  orbit["resolution_milestones"] = sds::Json::array({0});
  CHECK_THROWS_WITH(sds::make<sds::CameraSampler>(orbit, "camera_sampler"),
                    Contains("resolution_milestones") && Contains("increasing"));
  orbit["resolution_milestones"] = sds::Json::array({10});
  orbit["batch_size"] = sds::Json::array({0, 2});
  CHECK_THROWS_WITH(sds::make<sds::CameraSampler>(orbit, "camera_sampler"),
                    Contains("batch_size"));
  orbit["batch_size"] = sds::Json::array({3, 4});
  orbit["views_per_group"] = 2;
  CHECK_THROWS_WITH(sds::make<sds::CameraSampler>(orbit, "camera_sampler"),
                    Contains("views_per_group 2 to divide every batch_size, got 3"));
}

TEST_CASE("sphere views cover the sphere evenly and look at the origin", "[camera]") {
  const std::vector<sds::Camera> views = sds::sphere_views(64, 2.5, 40, 32, 48);
  REQUIRE(views.size() == 64);
  std::vector<at::Tensor> dirs;
  for (const sds::Camera& c : views) {
    CHECK(c.radius() == Approx(2.5));
    CHECK(c.height == 32);
    CHECK(c.width == 48);
    CHECK(std::abs(c.elevation_deg()) < 90.0);
    dirs.push_back(c.direction());
    // The optical axis (-Z of the camera) points at the origin.
    const at::Tensor look = -c.c2w().slice(0, 0, 3).select(1, 2);
    CHECK(sds::test::max_abs_diff(look, -c.direction()) < 1e-9);
  }
  const at::Tensor d = at::stack(dirs);  // [64, 3]
  // Evenly spread: the mean direction is near zero, no two views coincide, and every direction
  // on the sphere has a view within 20 degrees (a regular 64-point cover needs about 15).
  CHECK(d.mean(0).norm().item<double>() < 0.02);
  const at::Tensor cos = at::matmul(d, d.t()) - 2 * at::eye(64, at::kDouble);
  CHECK(cos.max().item<double>() < std::cos(10.0 * 3.14159265358979 / 180));
  at::manual_seed(5);
  at::Tensor probe = at::randn({5000, 3}, at::kDouble);
  probe = probe / probe.norm(2, 1, true);
  const double worst = at::matmul(probe, d.t()).amax(1).min().item<double>();
  CHECK(worst > std::cos(20.0 * 3.14159265358979 / 180));
  CHECK_THROWS_AS(sds::sphere_views(0, 3.0, 40, 8, 8), sds::Error);
}

TEST_CASE("held-out views are 24 and none lies on the 10 degree component grid", "[camera]") {
  auto views = sds::held_out_views(3, 40, 8, 8);
  REQUIRE(views.size() == 24);
  for (const auto& v : views) {
    CHECK(std::fmod(v.azimuth_deg(), 10.0) != Approx(0.0));
    CHECK((v.elevation_deg() == 7.5 || v.elevation_deg() == 22.5));
  }
  CHECK(sds::grid_views({0, 15, 30}, 10, 3, 40, 8, 8).size() == 108);
}

TEST_CASE("a general pinhole camera: tensors in, OpenCV viewmat and K out, off-centre rays",
          "[camera]") {
  const sds::Camera orbit = sds::Camera::orbit(20, 45, 2.5, 50, 24, 32);
  CHECK(orbit.elevation_deg() == 20.0);  // read back from the pose, rounded to 1e-9 degrees
  CHECK(orbit.azimuth_deg() == 45.0);
  CHECK(orbit.radius() == Approx(2.5));
  CHECK(orbit.fovy_deg() == Approx(50.0));
  CHECK(sds::Camera::orbit(0, 190, 3, 40, 8, 8).azimuth_deg() == Approx(-170.0));
  // viewmat: the centre maps to the origin, the world origin lies radius ahead (+z, OpenCV).
  at::Tensor vm = orbit.viewmat();
  auto [px, py, pz] = orbit.position();
  at::Tensor centre = at::matmul(vm, at::tensor({px, py, pz, 1.0}, at::kDouble));
  CHECK(centre.slice(0, 0, 3).abs().max().item<double>() < 1e-12);
  at::Tensor origin = at::matmul(vm, at::tensor({0.0, 0.0, 0.0, 1.0}, at::kDouble));
  CHECK(origin[2].item<double>() == Approx(2.5));
  CHECK(at::allclose(at::matmul(vm, orbit.c2w()),
                     at::diag(at::tensor({1.0, -1.0, -1.0, 1.0}, at::kDouble))));
  CHECK(orbit.K()[0][0].item<double>() == orbit.fx);
  CHECK(orbit.K()[1][2].item<double>() == orbit.cy);

  // From a user's tensors, with the principal point on a pixel centre: that pixel's ray is the
  // optical axis, and the ray one pixel right moves by 1 / fx.
  const sds::Camera off =
      sds::Camera::from_c2w(orbit.c2w().to(at::kFloat), 30.0, 20.0, 10.5, 6.5, 32, 24);
  sds::Rays rays = sds::CameraBatch({off}).rays(1, at::kDouble);
  at::Tensor axis = -off.c2w().index({at::indexing::Slice(0, 3), 2});
  CHECK((rays.directions[0][6][10] - axis).abs().max().item<double>() < 1e-6);
  at::Tensor right = off.c2w().index({at::indexing::Slice(0, 3), 0});
  at::Tensor next = rays.directions[0][6][11];
  CHECK(at::dot(next, right).item<double>() / at::dot(next, axis).item<double>() ==
        Approx(1.0 / 30.0));
  // A batch of [B, 4, 4] matrices with one shared K.
  at::Tensor c2w = at::stack({orbit.c2w(), sds::Camera::orbit(5, -60, 3, 40, 24, 32).c2w()});
  sds::CameraBatch batch = sds::CameraBatch::from_tensors(c2w, orbit.K(), 32, 24);
  REQUIRE(batch.size() == 2);
  CHECK(batch[1].azimuth_deg() == Approx(-60.0));
  CHECK(at::allclose(batch.viewmats()[0].to(at::kDouble), vm, 1e-6, 1e-6));
  CHECK(batch.Ks().sizes() == at::IntArrayRef({2, 3, 3}));
  // resized() scales the intrinsics with the image.
  const sds::Camera half = off.resized(12, 16);
  CHECK(half.fx == 15.0);
  CHECK(half.cy == 3.25);
  // Bad input.
  CHECK_THROWS_WITH(sds::CameraBatch::from_tensors(at::eye(4).unsqueeze(0) * 2, orbit.K(), 32, 24),
                    Contains("last row"));
  at::Tensor sheared = at::eye(4, at::kDouble);
  sheared[0][1] = 0.5;
  CHECK_THROWS_WITH(sds::Camera::from_c2w(sheared, 10, 10, 5, 5, 10, 10), Contains("rotation"));
  CHECK_THROWS_WITH(sds::Camera::from_c2w(at::eye(3), 10, 10, 5, 5, 10, 10), Contains("[4, 4]"));
  CHECK_THROWS_WITH(sds::Camera::from_c2w(at::eye(4), -1, 10, 5, 5, 10, 10),
                    Contains("focal lengths"));
}
