// Scenes of the exact prior and their exact ground-truth renderer.

#include "testing.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numbers>

#include "helpers.h"
#include "sds/camera/sampler.h"
#include "sds/core/error.h"
#include "sds/diffusion/ground_truth.h"
#include "sds/diffusion/scene.h"

using namespace sds;
using Catch::Contains;

namespace {

using Vec3 = std::array<double, 3>;

Concept single(const Primitive& p, const std::string& prompt = "test") {
  Concept c;
  c.prompt = prompt;
  c.primitives = {p};
  return c;
}

CameraBatch one_view(double elevation, double azimuth, int64_t size = 64) {
  return CameraBatch({Camera::orbit(elevation, azimuth, 3.0, 40.0, size, size)});
}

// Shading of a surface with outward normal n under the default options.
Vec3 lit(const Vec3& albedo, const Vec3& n) {
  const double l = std::sqrt(1 + 0.25 + 1);
  const double shade = 0.35 + 0.65 * std::max(0.0, (n[0] * 1 + n[1] * 0.5 + n[2] * 1) / l);
  return {albedo[0] * shade, albedo[1] * shade, albedo[2] * shade};
}

void check_pixel(const at::Tensor& rgb, int64_t i, int64_t j, const Vec3& expected) {
  for (int c = 0; c < 3; ++c) {
    CHECK(rgb[0][c][i][j].item<double>() == Approx(expected[c]).margin(1e-6));
  }
}

// Scene JSON with one concept holding `primitive` (a JSON object literal).
Json scene_with(const std::string& primitive) {
  return parse_json(R"({"concepts": [{"prompt": "p", "primitives": [)" + primitive + "]}]}",
                    "test");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The built-in concepts and every member of the built-in families: each is one object.
// The concepts of the scene files that results are reported on (hard.json, holdout.json).
std::vector<Concept> scene_file_objects() {
  std::vector<Concept> out;
  for (const char* file : {"examples/scenes/hard.json", "examples/scenes/holdout.json"}) {
    const Scene scene = Scene::load(std::filesystem::path(SDS_SOURCE_DIR) / file);
    out.insert(out.end(), scene.concepts.begin(), scene.concepts.end());
  }
  return out;
}

std::vector<Concept> builtin_objects() {
  std::vector<Concept> out = Scene::builtin().concepts;
  for (const Concept& c : Scene::builtin_families().concepts) {
    std::vector<Concept> members = c.members();
    for (size_t m = 0; m < members.size(); ++m) {
      members[m].prompt += " / " + c.member_name(static_cast<int64_t>(m));
      out.push_back(members[m]);
    }
  }
  return out;
}

// Whether the local point q lies inside the primitive: an independent, brute-force definition.
bool inside_local(const Primitive& p, double x, double y, double z) {
  switch (p.shape) {
    case Shape::Sphere:
      return x * x + y * y + z * z <= p.radius * p.radius;
    case Shape::Ellipsoid:
      return std::pow(x / p.radii[0], 2) + std::pow(y / p.radii[1], 2) +
                 std::pow(z / p.radii[2], 2) <=
             1;
    case Shape::Box:
      return std::abs(x) <= p.size[0] / 2 && std::abs(y) <= p.size[1] / 2 &&
             std::abs(z) <= p.size[2] / 2;
    case Shape::Cylinder:
      return x * x + y * y <= p.radius * p.radius && std::abs(z) <= p.height / 2;
    case Shape::Cone:
      return std::abs(z) <= p.height / 2 &&
             std::sqrt(x * x + y * y) <= p.radius * (p.height / 2 - z) / p.height;
    case Shape::Torus:
      return std::pow(std::sqrt(x * x + y * y) - p.major_radius, 2) + z * z <=
             p.minor_radius * p.minor_radius;
  }
  return false;
}

}  // namespace

TEST_CASE("sphere silhouette matches the analytic projected disc", "[scene]") {
  const double d = 3.0;
  for (double r : {0.3, 0.5, 0.8}) {
    const Camera cam = Camera::orbit(0.0, 0.0, d, 40.0, 64, 64);
    GroundTruthImages gt = render_ground_truth(
        single(Primitive::sphere({0, 0, 0}, r, {0.2, 0.4, 0.6})), CameraBatch({cam}));
    // The silhouette cone has half-angle asin(r / d); on the image plane a disc of radius
    // f tan(asin(r / d)) = f r / sqrt(d^2 - r^2) pixels.
    const double radius_px = cam.fy * r / std::sqrt(d * d - r * r);
    const double expected = std::numbers::pi * radius_px * radius_px;
    CHECK(gt.alpha.sum().item<double>() == Approx(expected).epsilon(0.01));
    CHECK(gt.alpha.min().item<double>() >= 0);
    CHECK(gt.alpha.max().item<double>() == 1.0);
  }
}

TEST_CASE("a box seen head-on is shaded exactly by its face normal", "[scene]") {
  const Vec3 albedo{0.2, 0.6, 0.9};
  const Concept box = single(Primitive::box({0, 0, 0}, {0.6, 0.6, 0.6}, albedo));
  GroundTruthImages front = render_ground_truth(box, one_view(0, 0));
  check_pixel(front.rgb, 32, 32, lit(albedo, {1, 0, 0}));
  CHECK(front.alpha[0][0][32][32].item<double>() == 1.0);
  check_pixel(front.rgb, 0, 0, {1, 1, 1});  // background
  CHECK(front.alpha[0][0][0][0].item<double>() == 0.0);
  // From above (+Z), from +Y and from behind (-X, facing away from the light: ambient only).
  check_pixel(render_ground_truth(box, one_view(90, 0)).rgb, 32, 32, lit(albedo, {0, 0, 1}));
  check_pixel(render_ground_truth(box, one_view(0, 90)).rgb, 32, 32, lit(albedo, {0, 1, 0}));
  check_pixel(render_ground_truth(box, one_view(0, 180)).rgb, 32, 32, lit(albedo, {-1, 0, 0}));
}

TEST_CASE("shading options and background are applied", "[scene]") {
  Concept c = single(Primitive::box({0, 0, 0}, {0.6, 0.6, 0.6}, {0.5, 0.5, 0.5}));
  c.background = {0.1, 0.2, 0.3};
  GroundTruthOptions flat;
  flat.ambient = 1.0;
  flat.diffuse = 0.0;
  flat.supersample = 1;
  GroundTruthImages gt = render_ground_truth(c, one_view(0, 0), flat);
  check_pixel(gt.rgb, 32, 32, {0.5, 0.5, 0.5});
  check_pixel(gt.rgb, 0, 0, {0.1, 0.2, 0.3});
  GroundTruthOptions bad;
  bad.supersample = 0;
  CHECK_THROWS_WITH(render_ground_truth(c, one_view(0, 0), bad), Contains("supersample"));
}

TEST_CASE("rotations turn the local frame: R = Rz Ry Rx", "[scene]") {
  // Ry(90) maps the cylinder's local Z axis onto world +X.
  const auto r = rotation_matrix({0, 90, 0});
  CHECK(r[0 * 3 + 2] == Approx(1.0));
  CHECK(std::abs(r[2 * 3 + 2]) < 1e-12);
  // Rz(90) after Rx(90): local Y -> (Rx) +Z -> (Rz) +Z; local Z -> (Rx) -Y -> (Rz) +X.
  const auto q = rotation_matrix({90, 0, 90});
  CHECK(q[2 * 3 + 1] == Approx(1.0));
  CHECK(q[0 * 3 + 2] == Approx(1.0));

  const Vec3 albedo{0.9, 0.3, 0.1};
  const Concept rod = single(Primitive::cylinder({0, 0, 0}, 0.2, 1.0, albedo).rotated({0, 90, 0}));
  // From the front the cap faces the camera.
  check_pixel(render_ground_truth(rod, one_view(0, 0)).rgb, 32, 32, lit(albedo, {1, 0, 0}));
  // From the side the rod lies horizontal: its central row is much longer than its column.
  at::Tensor side = render_ground_truth(rod, one_view(0, 90)).alpha[0][0];
  const double row = (side[32] > 0.5).sum().item<double>();
  const double column = (side.select(1, 32) > 0.5).sum().item<double>();
  CHECK(row > 2 * column);
  CHECK(column > 5);
}

TEST_CASE("exact intersections agree with brute-force point sampling for every shape", "[scene]") {
  const std::vector<Primitive> prims = {
      Primitive::sphere({0.1, -0.1, 0.05}, 0.5, {1, 0, 0}),
      Primitive::ellipsoid({0, 0.1, 0}, {0.6, 0.3, 0.4}, {1, 0, 0}).rotated({20, 35, -10}),
      Primitive::box({0, 0, 0.1}, {0.7, 0.4, 0.5}, {1, 0, 0}).rotated({30, -20, 45}),
      Primitive::cylinder({0.05, 0, 0}, 0.3, 0.8, {1, 0, 0}).rotated({60, 10, 0}),
      Primitive::cone({0, 0, -0.05}, 0.4, 0.9, {1, 0, 0}).rotated({-40, 25, 15}),
      Primitive::torus({0, 0, 0}, 0.5, 0.15, {1, 0, 0}).rotated({50, 20, 30}),
  };
  const CameraBatch cams({Camera::orbit(20, 30, 3.0, 40, 32, 32)});
  const Rays rays = cams.rays(1, at::kDouble);
  auto o = rays.origins.accessor<double, 4>();
  auto dir = rays.directions.accessor<double, 4>();
  for (const Primitive& p : prims) {
    INFO("shape " << shape_name(p.shape));
    GroundTruthOptions opt;
    opt.supersample = 1;
    at::Tensor alpha = render_ground_truth(single(p), cams, opt).alpha[0][0];
    const auto r = rotation_matrix(p.rotation_deg);
    int64_t agree = 0, hits = 0;
    for (int64_t i = 0; i < 32; ++i) {
      for (int64_t j = 0; j < 32; ++j) {
        bool hit = false;
        for (double t = 1.5; t < 4.5 && !hit; t += 0.002) {
          double w[3], l[3];
          for (int k = 0; k < 3; ++k) w[k] = o[0][i][j][k] + t * dir[0][i][j][k] - p.center[k];
          for (int k = 0; k < 3; ++k)
            l[k] = r[0 * 3 + k] * w[0] + r[1 * 3 + k] * w[1] + r[2 * 3 + k] * w[2];
          hit = inside_local(p, l[0], l[1], l[2]);
        }
        hits += hit;
        agree += hit == (alpha[i][j].item<double>() > 0.5);
      }
    }
    CHECK(hits > 50);
    CHECK(agree >= 1024 - 3);  // a grazing pixel may fall between the samples
  }
}

TEST_CASE("every built-in concept is wholly in view from every grid camera", "[scene]") {
  const std::vector<Concept> objects = builtin_objects();
  REQUIRE(objects.size() >= 4 + 3 * 3);
  const CameraBatch grid(grid_views({0, 15, 30}, 10, 3.0, 40, 64, 64));
  for (const Concept& c : objects) {
    INFO(c.prompt);
    GroundTruthImages gt = render_ground_truth(c, grid);
    REQUIRE(gt.rgb.sizes() == at::IntArrayRef({grid.size(), 3, 64, 64}));
    REQUIRE(gt.alpha.sizes() == at::IntArrayRef({grid.size(), 1, 64, 64}));
    CHECK(gt.rgb.min().item<double>() >= 0);
    CHECK(gt.rgb.max().item<double>() <= 1);
    at::Tensor a = gt.alpha.squeeze(1);
    const double border =
        a.select(1, 0).max().item<double>() + a.select(1, 63).max().item<double>() +
        a.select(2, 0).max().item<double>() + a.select(2, 63).max().item<double>();
    CHECK(border == 0.0);
    // Every view shows a substantial object: at least 10% of the pixels, at most 60%.
    const at::Tensor coverage = a.mean({1, 2});
    CHECK(coverage.min().item<double>() > 0.10);
    CHECK(coverage.max().item<double>() < 0.60);
    // It fills roughly half the image height or more in the front view.
    const double rows = (a[0].amax(1) > 0.5).sum().item<double>();
    CHECK(rows > 0.5 * 64);
    CHECK(rows < 0.8 * 64);
  }
  // The scene files' concepts are in view too (on the grid of nerf.json, elevations up to 60),
  // though some are lower or flatter than the built-in ones.
  const CameraBatch high(grid_views({0, 15, 30, 45, 60}, 30, 3.0, 40, 64, 64));
  for (const Concept& c : scene_file_objects()) {
    INFO(c.prompt);
    const at::Tensor a = render_ground_truth(c, high).alpha.squeeze(1);
    const double border =
        a.select(1, 0).max().item<double>() + a.select(1, 63).max().item<double>() +
        a.select(2, 0).max().item<double>() + a.select(2, 63).max().item<double>();
    CHECK(border == 0.0);
    CHECK(a.mean({1, 2}).min().item<double>() > 0.05);
  }
}

TEST_CASE("built-in concepts are not front-back symmetric", "[scene]") {
  // Flat shading, so that only albedo (not the light) can tell front from back; the back view
  // mirrored left-right is what the front would look like if the object were symmetric in X.
  GroundTruthOptions flat;
  flat.ambient = 1.0;
  flat.diffuse = 0.0;
  const CameraBatch views(
      {Camera::orbit(15, 0, 3.0, 40, 64, 64), Camera::orbit(15, 180, 3.0, 40, 64, 64)});
  // The fraction of pixels whose colour differs by more than 0.1 in some channel.
  auto asymmetry = [&](const Concept& c) {
    at::Tensor rgb = render_ground_truth(c, views, flat).rgb;
    at::Tensor diff = (rgb[0] - rgb[1].flip({2})).abs().amax(0);
    return (diff > 0.1).to(at::kDouble).mean().item<double>();
  };
  // Control: a sphere is symmetric, so the comparison itself is right.
  CHECK(asymmetry(single(Primitive::sphere({0, 0, 0}, 0.5, {0.3, 0.6, 0.2}))) == 0.0);
  for (const Concept& c : builtin_objects()) {
    INFO(c.prompt);
    CHECK(asymmetry(c) > 0.015);  // about 60 of the 4096 pixels or more
  }
  // The scene files' markers are smaller (the flower's leaf, the bowl's berry): 20 pixels.
  for (const Concept& c : scene_file_objects()) {
    INFO(c.prompt);
    CHECK(asymmetry(c) > 0.005);
  }
}

TEST_CASE("scene JSON round trip reproduces the renders", "[scene]") {
  Scene scene = Scene::builtin();
  for (const Concept& c : Scene::builtin_families().concepts) scene.concepts.push_back(c);
  const Json json = scene.to_json();
  const Scene again = Scene::from_json(parse_json(json.dump(2), "round trip"), "round trip");
  CHECK(again.to_json() == json);
  CHECK(again.prompts() == scene.prompts());
  const CameraBatch views(
      {Camera::orbit(15, 40, 3.0, 40, 32, 32), Camera::orbit(30, 200, 3.0, 40, 32, 32)});
  for (size_t i = 0; i < scene.concepts.size(); ++i) {
    const auto members = scene.concepts[i].members();
    REQUIRE(again.concepts[i].member_count() == static_cast<int64_t>(members.size()));
    for (size_t m = 0; m < members.size(); ++m) {
      const GroundTruthImages a = render_ground_truth(members[m], views);
      const GroundTruthImages b = render_ground_truth(again.concepts[i].members()[m], views);
      CHECK(at::equal(a.rgb, b.rgb));
      CHECK(at::equal(a.alpha, b.alpha));
    }
  }
  // The same through a file.
  const auto path = std::filesystem::temp_directory_path() / "sds_test_scene_roundtrip.json";
  { std::ofstream(path) << json.dump(); }
  CHECK(Scene::load(path).to_json() == json);
  std::filesystem::remove(path);
}

TEST_CASE("find returns concepts by prompt and lists the known ones otherwise", "[scene]") {
  const Scene scene = Scene::builtin();
  CHECK(scene.find("a red mug").prompt == "a red mug");
  CHECK(scene.prompts().front() == "a red mug");
  REQUIRE_THROWS_AS(scene.find("a blue whale"), Error);
  const std::string message = error_of([&] { scene.find("a blue whale"); });
  CHECK_THAT(message, Contains("a blue whale") && Contains("a red mug") && Contains("a house"));
}

TEST_CASE("bad scene files are clear errors", "[scene]") {
  auto from = [](const std::string& primitive) {
    return [primitive] { Scene::from_json(scene_with(primitive), "test"); };
  };
  REQUIRE_THROWS_AS(from(R"({"shape": "pyramid", "center": [0,0,0], "color": [1,0,0]})")(), Error);
  CHECK_THAT(error_of(from(R"({"shape": "pyramid", "center": [0,0,0], "color": [1,0,0]})")),
             Contains("pyramid") && Contains("sphere, ellipsoid, box, cylinder, cone, torus") &&
                 Contains("primitives[0]"));
  // Unknown key, and a key of another shape.
  CHECK_THAT(error_of(from(R"({"shape": "sphere", "center": [0,0,0], "radius": 0.3,
                               "colour": [1,0,0], "color": [1,0,0]})")),
             Contains("colour"));
  CHECK_THAT(error_of(from(R"({"shape": "box", "center": [0,0,0], "size": [0.2,0.2,0.2],
                               "radius": 0.3, "color": [1,0,0]})")),
             Contains("unknown key") && Contains("radius"));
  CHECK_THAT(error_of(from(R"({"shape": "sphere", "center": [0,0,0], "radius": -0.2,
                               "color": [1,0,0]})")),
             Contains("radius > 0") && Contains("-0.2") && Contains("sphere"));
  CHECK_THAT(error_of(from(R"({"shape": "cylinder", "center": [0,0,0], "radius": 0.2,
                               "color": [1,0,0]})")),
             Contains("missing") && Contains("height"));
  CHECK_THAT(error_of(from(R"({"shape": "box", "center": [0,0,0], "size": [0.2,0,0.2],
                               "color": [1,0,0]})")),
             Contains("size"));
  CHECK_THAT(error_of(from(R"({"shape": "torus", "center": [0,0,0], "major_radius": 0.1,
                               "minor_radius": 0.2, "color": [1,0,0]})")),
             Contains("minor_radius < major_radius"));
  CHECK_THAT(error_of(from(R"({"shape": "sphere", "center": [0,0,0], "radius": 0.2,
                               "color": [1.5,0,0]})")),
             Contains("color") && Contains("[0, 1]"));
  CHECK_THAT(error_of(from(R"({"shape": "sphere", "center": [0,0], "radius": 0.2,
                               "color": [1,0,0]})")),
             Contains("center") && Contains("3 numbers"));
  CHECK_THAT(error_of(from(R"({"shape": "sphere", "center": [0.7,0,0], "radius": 0.4,
                               "color": [1,0,0]})")),
             Contains("unit cube"));
  // A rotated box whose corner leaves the cube although its centre and size alone would not.
  CHECK_THAT(error_of(from(R"({"shape": "box", "center": [0,0,0], "size": [1.5,1.5,0.2],
                               "rotation": [0,0,45], "color": [1,0,0]})")),
             Contains("unit cube"));
  CHECK_NOTHROW(from(R"({"shape": "box", "center": [0,0,0], "size": [1.5,1.5,0.2],
                         "color": [1,0,0]})")());

  CHECK_THAT(error_of([] { Scene::from_json(parse_json(R"({"concepts": []})", "t"), "t"); }),
             Contains("at least one concept"));
  CHECK_THAT(error_of([] { Scene::from_json(parse_json(R"({"concept": []})", "t"), "t"); }),
             Contains("concepts"));
  const std::string sphere = R"({"shape": "sphere", "center": [0,0,0], "radius": 0.2,
                                 "color": [1,0,0]})";
  CHECK_THAT(error_of([&] {
               Scene::from_json(
                   parse_json(R"({"concepts": [{"prompt": "a", "primitives": [)" + sphere +
                                  R"(]}, {"prompt": "a", "primitives": [)" + sphere + "]}]}",
                              "t"),
                   "t");
             }),
             Contains("duplicate") && Contains("\"a\""));
  CHECK_THAT(error_of([&] {
               Scene::from_json(
                   parse_json(R"({"concepts": [{"prompt": "a", "primitives": []}]})", "t"), "t");
             }),
             Contains("at least one primitive"));
}

TEST_CASE("scene files that are missing or malformed are clear errors", "[scene]") {
  const auto missing = std::filesystem::temp_directory_path() / "sds_no_such_scene.json";
  REQUIRE_THROWS_AS(Scene::load(missing), Error);
  CHECK_THAT(error_of([&] { Scene::load(missing); }), Contains("sds_no_such_scene.json"));

  const auto broken = std::filesystem::temp_directory_path() / "sds_test_scene_broken.json";
  { std::ofstream(broken) << "{ \"concepts\": [ {\"prompt\": \"x\", }\n"; }
  REQUIRE_THROWS_AS(Scene::load(broken), Error);
  CHECK_THAT(error_of([&] { Scene::load(broken); }),
             Contains("sds_test_scene_broken.json") && Contains("malformed"));
  std::filesystem::remove(broken);
}

TEST_CASE("the built-in families have distinct members", "[scene][families]") {
  const Scene families = Scene::builtin_families();
  REQUIRE(families.concepts.size() >= 3);
  CHECK(Scene::resolve("builtin:families").to_json() == families.to_json());
  CHECK(Scene::resolve("").to_json() == Scene::builtin().to_json());
  const CameraBatch views(grid_views({0, 30}, 45, 3.0, 40, 32, 32));
  for (const Concept& c : families.concepts) {
    INFO(c.prompt);
    const auto members = c.members();
    REQUIRE(members.size() >= 3);
    std::vector<at::Tensor> rgb;
    for (const Concept& m : members) rgb.push_back(render_ground_truth(m, views).rgb);
    // Any two members differ visibly: below 30 dB against each other over these 16 views.
    for (size_t a = 0; a < rgb.size(); ++a) {
      for (size_t b = a + 1; b < rgb.size(); ++b) {
        const double mse = (rgb[a] - rgb[b]).pow(2).mean().item<double>();
        CHECK(-10 * std::log10(mse) < 30.0);
      }
    }
  }
}

TEST_CASE("variants edit, remove and add template primitives", "[scene][families]") {
  const Scene scene = Scene::from_json(parse_json(R"({"concepts": [{"prompt": "a thing",
    "primitives": [
      {"shape": "sphere", "center": [0, 0, 0], "radius": 0.3, "color": [1, 0, 0]},
      {"shape": "box", "center": [0.4, 0, 0], "size": [0.1, 0.1, 0.1], "color": [0, 1, 0]}],
    "variants": [
      {"name": "edited", "edit": [{"index": 0, "radius": 0.5, "color": [0, 0, 1]}]},
      {"name": "removed", "remove": [1]},
      {"name": "added", "add": [{"shape": "sphere", "center": [0, 0, 0.6], "radius": 0.1,
                                 "color": [1, 1, 0]}]},
      {"name": "replaced", "primitives": [
        {"shape": "box", "center": [0, 0, 0], "size": [0.5, 0.5, 0.5], "color": [1, 1, 1]}]}]}]})",
                                                  "t"),
                                       "t");
  const auto m = scene.concepts[0].members();
  REQUIRE(m.size() == 4);
  CHECK(m[0].primitives.size() == 2);
  CHECK(m[0].primitives[0].radius == 0.5);
  CHECK(m[0].primitives[0].color == std::array<double, 3>{0, 0, 1});
  CHECK(m[0].primitives[1].size == std::array<double, 3>{0.1, 0.1, 0.1});
  CHECK(m[1].primitives.size() == 1);
  CHECK(m[1].primitives[0].shape == Shape::Sphere);
  CHECK(m[2].primitives.size() == 3);
  CHECK(m[2].primitives[2].center[2] == 0.6);
  CHECK(m[3].primitives.size() == 1);
  CHECK(m[3].primitives[0].shape == Shape::Box);
  CHECK(scene.concepts[0].member_name(3) == "replaced");
  CHECK(Scene::builtin().concepts[0].member_count() == 1);
  CHECK(Scene::builtin().concepts[0].members().size() == 1);
}

TEST_CASE("malformed family entries are clear errors", "[scene][families][errors]") {
  auto with = [](const std::string& extra) {
    return [extra] {
      Scene::from_json(parse_json(R"({"concepts": [{"prompt": "a thing", "primitives": [
        {"shape": "sphere", "center": [0, 0, 0], "radius": 0.3, "color": [1, 0, 0]},
        {"shape": "box", "center": [0.4, 0, 0], "size": [0.1, 0.1, 0.1], "color": [0, 1, 0]}], )" +
                                      extra + "}]}",
                                  "t"),
                       "fam");
    };
  };
  CHECK_THAT(error_of(with(R"("variants": [])")), Contains("variants") && Contains("non-empty"));
  CHECK_THAT(error_of(with(R"("variants": [{"edit": []}])")),
             Contains("variants[0]") && Contains("name"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a"}, {"name": "a"}])")),
             Contains("duplicate variant name"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "edit": [{"index": 2, "radius": 1}]}])")),
             Contains("variants[0].edit[0].index") && Contains("[0, 2)"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "edit": [{"radius": 0.2}]}])")),
             Contains("\"index\""));
  CHECK_THAT(
      error_of(with(R"("variants": [{"name": "a", "edit": [{"index": 0, "size": [1, 1, 1]}]}])")),
      Contains("variants[0]") && Contains("unknown key") && Contains("size"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "edit": [{"index": 0, "radius": -1}]}])")),
             Contains("radius > 0"));
  CHECK_THAT(error_of(with(
                 R"("variants": [{"name": "a", "edit": [{"index": 0, "center": [0.9, 0, 0]}]}])")),
             Contains("unit cube") && Contains("\"a\""));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "remove": [0, 1]}])")),
             Contains("at least one primitive"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "remove": [5]}])")),
             Contains("remove[0]"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "primitives": [], "edit": []}])")),
             Contains("either"));
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "colour": [1, 0, 0]}])")),
             Contains("unknown key") && Contains("colour"));
  CHECK_THAT(error_of(with(R"("width": [{"kind": "hue", "std": 0.1}])")), Contains("hue"));
  CHECK_THAT(error_of(with(R"("width": [{"kind": "color", "std": 0}])")), Contains("std > 0"));
  CHECK_THAT(error_of(with(R"("width": [{"kind": "color", "std": 0.1, "direction": [0, 0, 0]}])")),
             Contains("non-zero direction"));
  CHECK_THAT(error_of(with(R"("width": [{"kind": "color", "std": 0.1, "primitives": [2]}])")),
             Contains("primitive indices") && Contains("[0, 2)"));
  // An index valid in the template but not in a member that removed primitives.
  CHECK_THAT(error_of(with(R"("variants": [{"name": "a", "remove": [1]}],
                              "width": [{"kind": "color", "std": 0.1, "primitives": [1]}])")),
             Contains("[0, 1)"));
  CHECK_THAT(
      error_of(with(R"("width": [{"kind": "brightness", "std": 0.1, "direction": [1, 0, 0]}])")),
      Contains("unknown key") && Contains("direction"));
}
