#include "testing.h"

#include "helpers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/camera/sampler.h"
#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/rng.h"
#include "sds/geometry/cavities.h"
#include "sds/geometry/marching_cubes.h"
#include "sds/geometry/mesh.h"
#include "sds/geometry/splat_field.h"
#include "sds/geometry/visual_hull.h"

using Catch::Matchers::Contains;

namespace {

constexpr double kPi = 3.14159265358979323846;
const std::array<double, 3> kLo{-1, -1, -1}, kHi{1, 1, 1};

// Sample coordinates of an [R, R, R] grid over [lo, hi], float64, indexed [ix][iy][iz].
std::tuple<at::Tensor, at::Tensor, at::Tensor> grid_coords(int64_t R, std::array<double, 3> lo,
                                                           std::array<double, 3> hi) {
  auto axis = [&](int a) { return at::linspace(lo[a], hi[a], R, at::kDouble); };
  auto g = at::meshgrid({axis(0), axis(1), axis(2)}, "ij");
  return {g[0], g[1], g[2]};
}

at::Tensor sphere_field(const at::Tensor& X, const at::Tensor& Y, const at::Tensor& Z,
                        std::array<double, 3> c, double r) {
  return r - ((X - c[0]).square() + (Y - c[1]).square() + (Z - c[2]).square()).sqrt();
}

// V - E + F of a closed mesh (every edge in two faces: E = 3F / 2).
int64_t euler_characteristic(const sds::Mesh& m) {
  return m.num_vertices() - 3 * m.num_faces() / 2 + m.num_faces();
}

// True when the triangles around every vertex form one closed fan (no two surfaces pinched
// together at a vertex): the edges opposite a vertex in its triangles link into a single cycle.
bool vertices_are_manifold(const sds::Mesh& m) {
  const int64_t V = m.num_vertices();
  at::Tensor faces = m.faces.contiguous();
  const int64_t* f = faces.data_ptr<int64_t>();
  std::vector<std::vector<std::pair<int64_t, int64_t>>> link(static_cast<size_t>(V));
  for (int64_t i = 0; i < m.num_faces(); ++i) {
    for (int k = 0; k < 3; ++k) {
      link[f[3 * i + k]].emplace_back(f[3 * i + (k + 1) % 3], f[3 * i + (k + 2) % 3]);
    }
  }
  for (const auto& l : link) {
    if (l.empty()) return false;
    size_t steps = 0;
    int64_t at = l[0].second;
    while (at != l[0].first && steps < l.size()) {
      auto it = std::find_if(l.begin(), l.end(), [&](const auto& e) { return e.first == at; });
      if (it == l.end()) return false;
      at = it->second;
      ++steps;
    }
    if (steps + 1 != l.size()) return false;
  }
  return true;
}

// Grid edges whose end values straddle iso (strictly above on one side only), all three axes.
int64_t crossed_edges(const at::Tensor& values, double iso) {
  at::Tensor in = values > iso;
  int64_t n = 0;
  for (int64_t a = 0; a < 3; ++a) {
    const int64_t N = in.size(a);
    n += (in.narrow(a, 1, N - 1) != in.narrow(a, 0, N - 1)).sum().item<int64_t>();
  }
  return n;
}

// The set of corner-sign cases (bit c = corner (c&1, c>>1&1, c>>2&1) above iso) of every cube.
std::set<int64_t> cube_cases(const at::Tensor& values, double iso) {
  at::Tensor in = (values > iso).to(at::kLong);
  const int64_t Nx = in.size(0), Ny = in.size(1), Nz = in.size(2);
  at::Tensor cases = at::zeros({Nx - 1, Ny - 1, Nz - 1}, at::kLong);
  for (int64_t c = 0; c < 8; ++c) {
    cases += in.narrow(0, c & 1, Nx - 1)
                 .narrow(1, (c >> 1) & 1, Ny - 1)
                 .narrow(2, (c >> 2) & 1, Nz - 1) *
             (int64_t{1} << c);
  }
  at::Tensor u = std::get<0>(at::_unique(cases.flatten()));
  std::set<int64_t> s;
  for (int64_t i = 0; i < u.numel(); ++i) s.insert(u[i].item<int64_t>());
  return s;
}

double rel_err(double got, double want) { return std::abs(got - want) / std::abs(want); }

// A unit cube [0,1]^3 * scale + offset, faces counter-clockwise from outside.
sds::Mesh cube_mesh(double scale = 1.0, std::array<double, 3> offset = {0, 0, 0}) {
  sds::Mesh m;
  m.vertices = at::empty({8, 3}, at::kFloat);
  for (int64_t c = 0; c < 8; ++c) {
    for (int a = 0; a < 3; ++a) m.vertices[c][a] = ((c >> a) & 1) * scale + offset[a];
  }
  const int64_t quads[6][4] = {{0, 4, 6, 2}, {1, 3, 7, 5}, {0, 1, 5, 4},
                               {2, 6, 7, 3}, {0, 2, 3, 1}, {4, 5, 7, 6}};
  m.faces = at::empty({12, 3}, at::kLong);
  for (int q = 0; q < 6; ++q) {
    const int64_t tri[2][3] = {{quads[q][0], quads[q][1], quads[q][2]},
                               {quads[q][0], quads[q][2], quads[q][3]}};
    for (int t = 0; t < 2; ++t) {
      for (int k = 0; k < 3; ++k) m.faces[2 * q + t][k] = tri[t][k];
    }
  }
  return m;
}

// N random anisotropic Gaussians in [-0.8, 0.8]^3 with scales in [smin, smax].
struct Splats {
  at::Tensor means, covariances, weights, colors;
};

Splats random_splats(int64_t N, double smin, double smax, uint64_t seed) {
  at::Generator gen = sds::make_generator(seed);
  Splats s;
  s.means = at::rand({N, 3}, gen, at::kDouble) * 1.6 - 0.8;
  at::Tensor rot = std::get<0>(at::linalg_qr(at::randn({N, 3, 3}, gen, at::kDouble)));
  at::Tensor scales = at::rand({N, 3}, gen, at::kDouble) * (smax - smin) + smin;
  s.covariances = at::matmul(rot * scales.square().unsqueeze(1), rot.transpose(1, 2));
  s.covariances = 0.5 * (s.covariances + s.covariances.transpose(1, 2));
  s.weights = at::rand({N}, gen, at::kDouble) * 1.3 + 0.2;
  s.colors = at::rand({N, 3}, gen, at::kDouble);
  return s;
}

// Dense reference: every Gaussian at every point, in float64, with the cutoff-box rule when
// `cutoff` is finite. Returns kernel values w_i k_i(p) as [P, N].
at::Tensor brute_force_kernels(const at::Tensor& points, const Splats& s, double cutoff) {
  at::Tensor d = points.unsqueeze(1) - s.means.unsqueeze(0);  // [P, N, 3]
  at::Tensor inv = at::linalg_inv(s.covariances);
  at::Tensor q = at::einsum("pni,nij,pnj->pn", {d, inv, d});
  at::Tensor k = s.weights * at::exp(-0.5 * q);
  if (std::isfinite(cutoff)) {
    at::Tensor half = cutoff * at::diagonal(s.covariances, 0, 1, 2).sqrt();  // [N, 3]
    k = k * (d.abs() <= half.unsqueeze(0)).all(-1).to(at::kDouble);
  }
  return k;
}

at::Tensor grid_points(int64_t R) {
  auto [X, Y, Z] = grid_coords(R, kLo, kHi);
  return at::stack({X.flatten(), Y.flatten(), Z.flatten()}, 1);
}

std::string read_binary(const std::filesystem::path& path) { return sds::read_text_file(path); }

int files_in(const std::filesystem::path& dir) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

template <class F>
double seconds(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Mesh utilities

TEST_CASE("a hand-built cube has area 6, volume 1 and is watertight", "[geometry][mesh]") {
  sds::Mesh cube = cube_mesh();
  REQUIRE_NOTHROW(sds::check_mesh(cube, "cube"));
  CHECK(sds::surface_area(cube) == Approx(6.0).epsilon(1e-12));
  CHECK(sds::enclosed_volume(cube) == Approx(1.0).epsilon(1e-12));
  CHECK(sds::is_watertight(cube));

  sds::Mesh far = cube_mesh(2.0, {100.0, -50.0, 30.0});
  CHECK(sds::surface_area(far) == Approx(24.0).epsilon(1e-9));
  CHECK(sds::enclosed_volume(far) == Approx(8.0).epsilon(1e-9));

  sds::Mesh inverted = cube;
  inverted.faces = cube.faces.flip(1).contiguous();
  CHECK(sds::enclosed_volume(inverted) == Approx(-1.0).epsilon(1e-12));
  CHECK(sds::is_watertight(inverted));  // closed and consistent, only inside out

  sds::Mesh holed = cube;
  holed.faces = cube.faces.narrow(0, 1, 11).contiguous();
  CHECK_FALSE(sds::is_watertight(holed));

  sds::Mesh one_flipped = cube;
  one_flipped.faces = cube.faces.clone();
  one_flipped.faces[3] = cube.faces[3].flip(0);
  CHECK_FALSE(sds::is_watertight(one_flipped));

  sds::Mesh empty;
  empty.vertices = at::zeros({0, 3}, at::kFloat);
  empty.faces = at::zeros({0, 3}, at::kLong);
  CHECK(sds::surface_area(empty) == 0.0);
  CHECK(sds::enclosed_volume(empty) == 0.0);
  CHECK_FALSE(sds::is_watertight(empty));
}

TEST_CASE("write_obj writes vertices with colours and 1-based faces, atomically",
          "[geometry][mesh][io]") {
  auto dir = sds::test::fresh_temp_dir("geometry_obj");
  sds::Mesh cube = cube_mesh(1.0, {0.5, -0.25, 2.0});
  cube.colors = at::rand({8, 3}, sds::make_generator(3));
  sds::write_obj(dir / "cube.obj", cube);
  sds::write_obj(dir / "cube.obj", cube);  // replacing leaves no temporary behind
  CHECK(files_in(dir) == 1);

  std::istringstream in(sds::read_text_file(dir / "cube.obj"));
  std::string line;
  std::vector<std::vector<double>> vs;
  std::vector<std::vector<int64_t>> fs;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "v") {
      std::vector<double> v(6);
      for (auto& x : v) ls >> x;
      REQUIRE_FALSE(ls.fail());
      vs.push_back(v);
    } else if (tag == "f") {
      std::vector<int64_t> f(3);
      for (auto& x : f) ls >> x;
      fs.push_back(f);
    }
  }
  REQUIRE(vs.size() == 8);
  REQUIRE(fs.size() == 12);
  for (int64_t i = 0; i < 8; ++i) {
    for (int a = 0; a < 3; ++a) {
      // Written as the shortest decimal that reads back as the same float.
      CHECK(static_cast<float>(vs[i][a]) == cube.vertices[i][a].item<float>());
      CHECK(static_cast<float>(vs[i][3 + a]) == cube.colors[i][a].item<float>());
    }
  }
  for (int64_t i = 0; i < 12; ++i) {
    for (int k = 0; k < 3; ++k) CHECK(fs[i][k] == cube.faces[i][k].item<int64_t>() + 1);
  }

  cube.colors = at::Tensor();
  sds::write_obj(dir / "plain.obj", cube);
  std::string text = sds::read_text_file(dir / "plain.obj");
  std::istringstream first(text.substr(text.find("\nv ") + 1));
  std::getline(first, line);
  std::istringstream ls(line);
  std::string tag;
  double x, y, z, extra;
  ls >> tag >> x >> y >> z;
  CHECK(x == 0.5);
  CHECK(y == -0.25);
  CHECK(z == 2.0);
  CHECK_FALSE(ls >> extra);
}

TEST_CASE("write_mesh_ply writes a binary little-endian PLY that parses back",
          "[geometry][mesh][io]") {
  auto dir = sds::test::fresh_temp_dir("geometry_ply");
  sds::Mesh cube = cube_mesh(1.5, {-0.5, 0.25, 3.0});
  cube.colors = at::rand({8, 3}, sds::make_generator(4));
  cube.colors[2][1] = 1.0f;
  cube.colors[2][2] = 0.0f;
  sds::write_mesh_ply(dir / "cube.ply", cube);
  CHECK(files_in(dir) == 1);

  const std::string bytes = read_binary(dir / "cube.ply");
  const std::string end = "end_header\n";
  const size_t body = bytes.find(end);
  REQUIRE(body != std::string::npos);
  const std::string header = bytes.substr(0, body);
  CHECK(header.rfind("ply\nformat binary_little_endian 1.0\n", 0) == 0);
  CHECK_THAT(header, Contains("element vertex 8\n") && Contains("element face 12\n") &&
                         Contains("property float x\nproperty float y\nproperty float z\n") &&
                         Contains("property uchar red\nproperty uchar green\nproperty uchar "
                                  "blue\n") &&
                         Contains("property list uchar int vertex_indices\n"));
  const size_t vertex_bytes = 3 * 4 + 3, face_bytes = 1 + 3 * 4;
  REQUIRE(bytes.size() == body + end.size() + 8 * vertex_bytes + 12 * face_bytes);

  // The test host is little endian (x86-64 / aarch64), so raw copies read the file's order.
  const char* p = bytes.data() + body + end.size();
  for (int64_t i = 0; i < 8; ++i) {
    float xyz[3];
    std::memcpy(xyz, p + i * vertex_bytes, sizeof(xyz));
    for (int a = 0; a < 3; ++a) CHECK(xyz[a] == cube.vertices[i][a].item<float>());
    for (int a = 0; a < 3; ++a) {
      const auto rgb = static_cast<unsigned char>(p[i * vertex_bytes + 12 + a]);
      CHECK(rgb == std::lround(cube.colors[i][a].item<float>() * 255.0f));
    }
  }
  CHECK(static_cast<unsigned char>(p[2 * vertex_bytes + 13]) == 255);
  CHECK(static_cast<unsigned char>(p[2 * vertex_bytes + 14]) == 0);
  const char* f = p + 8 * vertex_bytes;
  for (int64_t i = 0; i < 12; ++i) {
    CHECK(static_cast<unsigned char>(f[i * face_bytes]) == 3);
    int32_t idx[3];
    std::memcpy(idx, f + i * face_bytes + 1, sizeof(idx));
    for (int k = 0; k < 3; ++k) CHECK(idx[k] == cube.faces[i][k].item<int64_t>());
  }

  cube.colors = at::Tensor();
  sds::write_mesh_ply(dir / "plain.ply", cube);
  const std::string plain = read_binary(dir / "plain.ply");
  CHECK_THAT(plain, !Contains("red"));
  CHECK(plain.size() == plain.find(end) + end.size() + 8 * 12 + 12 * face_bytes);
}

TEST_CASE("malformed meshes are rejected", "[geometry][mesh][errors]") {
  sds::Mesh cube = cube_mesh();
  sds::Mesh bad = cube;
  bad.faces = cube.faces.clone();
  bad.faces[0][1] = 8;
  REQUIRE_THROWS_WITH(sds::check_mesh(bad, "m"), Contains("[0, 8)") && Contains("[0, 8]"));
  REQUIRE_THROWS_AS(sds::surface_area(bad), sds::Error);
  REQUIRE_THROWS_AS(sds::write_obj(sds::test::fresh_temp_dir("geometry_bad") / "x.obj", bad),
                    sds::Error);
  bad.faces[0][1] = -1;
  REQUIRE_THROWS_AS(sds::is_watertight(bad), sds::Error);

  bad = cube;
  bad.vertices = cube.vertices.to(at::kDouble);
  REQUIRE_THROWS_WITH(sds::check_mesh(bad, "m"), Contains("Float") && Contains("Double"));
  bad = cube;
  bad.faces = cube.faces.to(at::kInt);
  REQUIRE_THROWS_AS(sds::enclosed_volume(bad), sds::Error);
  bad = cube;
  bad.vertices = cube.vertices.clone();
  bad.vertices[1][1] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(sds::check_mesh(bad, "m"), Contains("NaN"));
  bad = cube;
  bad.vertices = cube.vertices.narrow(1, 0, 2);
  REQUIRE_THROWS_WITH(sds::check_mesh(bad, "m"), Contains("[V, 3]"));
  bad = cube;
  bad.colors = at::full({8, 3}, 1.5f);
  REQUIRE_THROWS_WITH(sds::check_mesh(bad, "m"), Contains("[0, 1]"));
  bad.colors = at::full({7, 3}, 0.5f);
  REQUIRE_THROWS_AS(sds::write_mesh_ply(sds::test::fresh_temp_dir("geometry_bad") / "x.ply", bad),
                    sds::Error);
  bad = cube;
  bad.faces = at::Tensor();
  REQUIRE_THROWS_AS(sds::check_mesh(bad, "m"), sds::Error);
}

// ---------------------------------------------------------------------------------------------
// Marching cubes

TEST_CASE("marching cubes of a sphere: area, volume, watertight, outward", "[geometry][mc]") {
  const double r = 0.7;
  auto [X, Y, Z] = grid_coords(128, kLo, kHi);
  at::Tensor values = sphere_field(X, Y, Z, {0, 0, 0}, r);
  sds::Mesh m = sds::marching_cubes(values, 0.0, kLo, kHi);
  REQUIRE_NOTHROW(sds::check_mesh(m, "sphere"));
  CHECK_FALSE(m.colors.defined());
  CHECK(m.num_vertices() == crossed_edges(values, 0.0));
  CHECK(sds::is_watertight(m));
  CHECK(vertices_are_manifold(m));
  CHECK(euler_characteristic(m) == 2);
  const double area = sds::surface_area(m), volume = sds::enclosed_volume(m);
  CAPTURE(area, volume);
  CHECK(rel_err(area, 4 * kPi * r * r) < 0.01);
  CHECK(rel_err(volume, 4.0 / 3.0 * kPi * r * r * r) < 0.01);
  // Interpolating a distance field along a grid edge errs by about h^2 / (2 r) (h = 2 / 127).
  at::Tensor radius = m.vertices.to(at::kDouble).norm(2, 1);
  CHECK((radius - r).abs().max().item<double>() < 5e-4);
  // Every face normal points away from the centre.
  at::Tensor v = m.vertices.to(at::kDouble);
  at::Tensor a = v.index_select(0, m.faces.select(1, 0)),
             b = v.index_select(0, m.faces.select(1, 1)),
             c = v.index_select(0, m.faces.select(1, 2));
  at::Tensor n = at::linalg_cross(b - a, c - a, 1);
  at::Tensor outward = (n * (a + b + c)).sum(1);
  CHECK((outward >= 0).all().item<bool>());
}

TEST_CASE("marching cubes of a plane interpolates exactly and faces towards lower values",
          "[geometry][mc]") {
  // values = 0.3 - x: the surface x = 0.3 crosses the whole box, so it is open at the boundary.
  auto [X, Y, Z] = grid_coords(17, kLo, kHi);
  at::Tensor values = 0.3 - X;
  sds::Mesh m = sds::marching_cubes(values.to(at::kFloat), 0.0, kLo, kHi);
  REQUIRE(m.num_faces() == 2 * 16 * 16);
  CHECK((m.vertices.select(1, 0) - 0.3f).abs().max().item<float>() < 1e-6f);
  CHECK(sds::surface_area(m) == Approx(4.0).epsilon(1e-5));
  CHECK_FALSE(sds::is_watertight(m));
  at::Tensor v = m.vertices.to(at::kDouble);
  at::Tensor a = v.index_select(0, m.faces.select(1, 0)),
             b = v.index_select(0, m.faces.select(1, 1)),
             c = v.index_select(0, m.faces.select(1, 2));
  at::Tensor n = at::linalg_cross(b - a, c - a, 1);  // 2 * area * unit normal
  CHECK((n.select(1, 0) > 0).all().item<bool>());
  CHECK(n.select(1, 0).sum().item<double>() == Approx(8.0).epsilon(1e-5));
  CHECK(n.narrow(1, 1, 2).abs().max().item<double>() < 1e-6);
}

TEST_CASE("marching cubes of a torus and of sphere unions has the right topology",
          "[geometry][mc]") {
  auto [X, Y, Z] = grid_coords(128, kLo, kHi);
  SECTION("torus: genus 1") {
    const double R = 0.5, r = 0.2;
    at::Tensor values = r - ((X.square() + Y.square()).sqrt() - R).square().add(Z.square()).sqrt();
    sds::Mesh m = sds::marching_cubes(values, 0.0, kLo, kHi);
    CHECK(sds::is_watertight(m));
    CHECK(euler_characteristic(m) == 0);
    CHECK(rel_err(sds::enclosed_volume(m), 2 * kPi * kPi * R * r * r) < 0.01);
    CHECK(rel_err(sds::surface_area(m), 4 * kPi * kPi * R * r) < 0.01);
  }
  SECTION("two overlapping spheres: one closed surface") {
    at::Tensor values = at::maximum(sphere_field(X, Y, Z, {-0.25, 0, 0}, 0.45),
                                    sphere_field(X, Y, Z, {0.25, 0, 0}, 0.45));
    sds::Mesh m = sds::marching_cubes(values, 0.0, kLo, kHi);
    CHECK(sds::is_watertight(m));
    CHECK(euler_characteristic(m) == 2);
    // Union of two balls of radius r with centres d apart: two balls minus the lens.
    const double r = 0.45, d = 0.5, h = r - d / 2;
    const double lens = 2 * kPi * h * h * (3 * r - h) / 3;
    CHECK(rel_err(sds::enclosed_volume(m), 2 * 4.0 / 3.0 * kPi * r * r * r - lens) < 0.01);
  }
  SECTION("two separate spheres: two closed surfaces") {
    at::Tensor values = at::maximum(sphere_field(X, Y, Z, {-0.5, 0.1, 0}, 0.3),
                                    sphere_field(X, Y, Z, {0.5, -0.1, 0.2}, 0.35));
    sds::Mesh m = sds::marching_cubes(values, 0.0, kLo, kHi);
    CHECK(sds::is_watertight(m));
    CHECK(euler_characteristic(m) == 4);
    const double want = 4.0 / 3.0 * kPi * (0.3 * 0.3 * 0.3 + 0.35 * 0.35 * 0.35);
    CHECK(rel_err(sds::enclosed_volume(m), want) < 0.01);
  }
}

TEST_CASE("marching cubes of an offset ellipsoid (float32 field) has its volume",
          "[geometry][mc]") {
  const std::array<double, 3> lo{-0.6, -0.5, -0.4}, hi{0.9, 0.4, 0.7};
  auto [X, Y, Z] = grid_coords(96, lo, hi);
  const double cx = 0.2, cy = -0.1, cz = 0.15, a = 0.5, b = 0.3, c = 0.4;
  at::Tensor values =
      1.0 - ((X - cx) / a).square() - ((Y - cy) / b).square() - ((Z - cz) / c).square();
  sds::Mesh m = sds::marching_cubes(values.to(at::kFloat), 0.0, lo, hi);
  CHECK(sds::is_watertight(m));
  CHECK(euler_characteristic(m) == 2);
  CHECK(rel_err(sds::enclosed_volume(m), 4.0 / 3.0 * kPi * a * b * c) < 0.01);
  at::Tensor centre = m.vertices.to(at::kDouble).mean(0);
  CHECK(centre[0].item<double>() == Approx(cx).margin(0.01));
  CHECK(centre[1].item<double>() == Approx(cy).margin(0.01));
  CHECK(centre[2].item<double>() == Approx(cz).margin(0.01));
}

TEST_CASE("marching cubes of thresholded noise is watertight in every corner case",
          "[geometry][mc]") {
  at::Generator gen = sds::make_generator(20240611);
  at::Tensor noise = at::rand({26, 24, 22}, gen, at::kDouble);
  // Forcing the border below every iso keeps the high region off the grid boundary.
  for (int64_t a = 0; a < 3; ++a) {
    noise.narrow(a, 0, 1).zero_();
    noise.narrow(a, noise.size(a) - 1, 1).zero_();
  }
  CHECK(cube_cases(noise, 0.5).size() == 256);
  for (double iso : {0.15, 0.5, 0.85}) {
    CAPTURE(iso);
    sds::Mesh m = sds::marching_cubes(noise, iso, {0, 0, 0}, {2.5, 2.3, 2.1});
    CHECK(m.num_vertices() == crossed_edges(noise, iso));
    CHECK(sds::is_watertight(m));
    CHECK(vertices_are_manifold(m));
    CHECK(euler_characteristic(m) % 2 == 0);
    CHECK(sds::enclosed_volume(m) > 0);
  }
  // Samples exactly at iso count as outside and put vertices on grid corners: zero-area
  // triangles, but the connectivity stays closed.
  at::Tensor steps = (noise * 4).round() / 4;
  sds::Mesh degenerate = sds::marching_cubes(steps, 0.5, {0, 0, 0}, {1, 1, 1});
  CHECK((steps == 0.5).any().item<bool>());
  CHECK(sds::is_watertight(degenerate));
  CHECK(vertices_are_manifold(degenerate));
  // The complement region (low values inside) exercises the opposite sign of every case.
  at::Tensor flipped = 1.0 - noise;
  for (int64_t a = 0; a < 3; ++a) {
    flipped.narrow(a, 0, 1).zero_();
    flipped.narrow(a, flipped.size(a) - 1, 1).zero_();
  }
  sds::Mesh m = sds::marching_cubes(flipped, 0.5, {0, 0, 0}, {1, 1, 1});
  CHECK(sds::is_watertight(m));
  CHECK(sds::enclosed_volume(m) > 0);
}

TEST_CASE("marching cubes is deterministic across thread counts", "[geometry][mc]") {
  at::Generator gen = sds::make_generator(7);
  at::Tensor noise = at::rand({40, 33, 29}, gen);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  sds::Mesh one = sds::marching_cubes(noise, 0.6, kLo, kHi);
  at::set_num_threads(std::max(threads, 4));
  sds::Mesh many = sds::marching_cubes(noise, 0.6, kLo, kHi);
  at::set_num_threads(threads);
  CHECK(at::equal(one.vertices, many.vertices));
  CHECK(at::equal(one.faces, many.faces));
}

TEST_CASE("a field entirely below or above iso gives an empty mesh", "[geometry][mc]") {
  sds::Mesh below = sds::marching_cubes(at::zeros({4, 5, 6}), 0.5, kLo, kHi);
  CHECK(below.num_vertices() == 0);
  CHECK(below.num_faces() == 0);
  REQUIRE_NOTHROW(sds::check_mesh(below, "empty"));
  sds::Mesh above = sds::marching_cubes(at::ones({2, 2, 2}, at::kDouble), 0.5, kLo, kHi);
  CHECK(above.num_faces() == 0);
}

TEST_CASE("marching cubes rejects bad input", "[geometry][mc][errors]") {
  at::Tensor ok = at::zeros({4, 4, 4});
  REQUIRE_NOTHROW(sds::marching_cubes(ok, 0.0, kLo, kHi));
  REQUIRE_THROWS_WITH(sds::marching_cubes(at::zeros({4, 4}), 0.0, kLo, kHi),
                      Contains("[Nx, Ny, Nz]") && Contains("[4, 4]"));
  REQUIRE_THROWS_WITH(sds::marching_cubes(at::zeros({4, 4, 4}, at::kInt), 0.0, kLo, kHi),
                      Contains("Float or Double"));
  at::Tensor nan = ok.clone();
  nan[1][2][3] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(sds::marching_cubes(nan, 0.0, kLo, kHi), Contains("NaN"));
  REQUIRE_THROWS_WITH(sds::marching_cubes(at::zeros({4, 1, 4}), 0.0, kLo, kHi),
                      Contains("at least 2") && Contains("[4, 1, 4]"));
  REQUIRE_THROWS_WITH(sds::marching_cubes(ok, 0.0, kLo, {1, -1, 1}), Contains("hi > lo"));
  REQUIRE_THROWS_AS(sds::marching_cubes(ok, 0.0, kLo, {1, 1, std::nan("")}), sds::Error);
  REQUIRE_THROWS_AS(sds::marching_cubes(ok, std::nan(""), kLo, kHi), sds::Error);
  REQUIRE_THROWS_AS(sds::marching_cubes(at::Tensor(), 0.0, kLo, kHi), sds::Error);
}

// ---------------------------------------------------------------------------------------------
// Gaussian splat fields

TEST_CASE("splat_density_grid equals a dense evaluation", "[geometry][splat]") {
  Splats s = random_splats(40, 0.04, 0.25, 11);
  const int64_t R = 24;
  at::Tensor points = grid_points(R);
  for (double cutoff : {3.0, 1.5}) {
    CAPTURE(cutoff);
    at::Tensor want = brute_force_kernels(points, s, cutoff).sum(1).view({R, R, R});
    at::Tensor got =
        sds::splat_density_grid(s.means, s.covariances, s.weights, R, kLo, kHi, 4, cutoff);
    REQUIRE(got.sizes() == at::IntArrayRef({R, R, R}));
    REQUIRE(got.scalar_type() == at::kFloat);
    CHECK(sds::test::max_abs_diff(got, want) <= 1e-6 * want.max().item<double>());
  }
  // With a cutoff far beyond the kernels' reach, the grid is the plain sum of Gaussians.
  at::Tensor full = brute_force_kernels(points, s, std::numeric_limits<double>::infinity())
                        .sum(1)
                        .view({R, R, R});
  at::Tensor got = sds::splat_density_grid(s.means.to(at::kFloat), s.covariances.to(at::kFloat),
                                           s.weights.to(at::kFloat), R, kLo, kHi, 16, 40.0);
  CHECK(sds::test::max_abs_diff(got, full) <= 1e-4 * full.max().item<double>());
}

TEST_CASE("splat_density_grid does not depend on blocks or threads", "[geometry][splat]") {
  Splats s = random_splats(300, 0.02, 0.15, 12);
  at::Tensor ref = sds::splat_density_grid(s.means, s.covariances, s.weights, 37, kLo, kHi, 1);
  for (int64_t blocks : {2, 5, 16, 37, 100}) {
    CAPTURE(blocks);
    CHECK(at::equal(
        ref, sds::splat_density_grid(s.means, s.covariances, s.weights, 37, kLo, kHi, blocks)));
  }
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  at::Tensor serial = sds::splat_density_grid(s.means, s.covariances, s.weights, 37, kLo, kHi, 8);
  at::set_num_threads(threads);
  CHECK(at::equal(ref, serial));
}

TEST_CASE("an isotropic Gaussian on a sample peaks at its weight", "[geometry][splat]") {
  // R = 33 over [-1, 1]: spacing 1/16, so (0.25, -0.5, 0) is the sample (20, 8, 16).
  const double sigma = 0.1, w = 2.5, h = 1.0 / 16;
  at::Tensor means = at::tensor({0.25, -0.5, 0.0}, at::kDouble).view({1, 3});
  at::Tensor cov = (sigma * sigma * at::eye(3, at::kDouble)).unsqueeze(0);
  at::Tensor weights = at::full({1}, w, at::kDouble);
  at::Tensor grid = sds::splat_density_grid(means, cov, weights, 33, kLo, kHi);
  CHECK(grid.max().item<float>() == static_cast<float>(w));
  CHECK(grid.argmax().item<int64_t>() == (20 * 33 + 8) * 33 + 16);
  CHECK(grid[21][8][16].item<double>() == Approx(w * std::exp(-0.5 * h * h / (sigma * sigma))));
  CHECK(grid[20][9][17].item<double>() == Approx(w * std::exp(-h * h / (sigma * sigma))));
  // 3 sigma = 4.8 samples: the sample 5 steps away is beyond the cutoff box.
  CHECK(grid[20][8][20].item<double>() ==
        Approx(w * std::exp(-0.5 * 16 * h * h / (sigma * sigma))));
  CHECK(grid[20][8][21].item<float>() == 0.0f);
}

TEST_CASE("splat_field gives the density and the kernel-weighted mean colour",
          "[geometry][splat]") {
  Splats s = random_splats(60, 0.03, 0.2, 13);
  at::Generator gen = sds::make_generator(14);
  at::Tensor points = at::rand({700, 3}, gen, at::kDouble) * 2.4 - 1.2;
  points[0] = at::tensor({5.0, 5.0, 5.0}, at::kDouble);  // beyond every cutoff box
  auto [density, color] = sds::splat_field(points, s.means, s.covariances, s.weights, s.colors);
  REQUIRE(density.sizes() == at::IntArrayRef({700}));
  REQUIRE(color.sizes() == at::IntArrayRef({700, 3}));
  at::Tensor k = brute_force_kernels(points, s, 3.0);  // [P, N]
  at::Tensor want_density = k.sum(1);
  CHECK(sds::test::max_abs_diff(density, want_density) <= 1e-6 * want_density.max().item<double>());
  at::Tensor covered = want_density > 0;
  at::Tensor want_color = at::matmul(k, s.colors) / want_density.clamp_min(1e-300).unsqueeze(1);
  want_color = want_color * covered.unsqueeze(1);
  CHECK(sds::test::max_abs_diff(color, want_color) < 1e-5);
  CHECK(density[0].item<float>() == 0.0f);
  CHECK((color[0] == 0).all().item<bool>());
  CHECK(covered.sum().item<int64_t>() > 350);

  // At the grid's samples, splat_field and splat_density_grid apply the same rule.
  at::Tensor gp = grid_points(12);
  at::Tensor grid = sds::splat_density_grid(s.means, s.covariances, s.weights, 12, kLo, kHi, 3);
  auto [at_samples, unused] =
      sds::splat_field(gp, s.means, s.covariances, s.weights, s.colors.narrow(1, 0, 1));
  CHECK(sds::test::max_abs_diff(at_samples, grid.flatten()) <= 1e-6 * grid.max().item<double>());

  // A single Gaussian: its colour wherever it reaches.
  auto [d1, c1] = sds::splat_field(points, s.means.narrow(0, 0, 1), s.covariances.narrow(0, 0, 1),
                                   s.weights.narrow(0, 0, 1), s.colors.narrow(0, 0, 1));
  at::Tensor reached = d1 > 0;
  CHECK(sds::test::max_abs_diff(
            c1.index({reached}),
            s.colors.narrow(0, 0, 1).expand({reached.sum().item<int64_t>(), 3})) < 1e-6);
}

TEST_CASE("splat fields reject bad input", "[geometry][splat][errors]") {
  Splats s = random_splats(5, 0.05, 0.1, 15);
  auto grid = [&](const at::Tensor& m, const at::Tensor& c, const at::Tensor& w) {
    return sds::splat_density_grid(m, c, w, 8, kLo, kHi);
  };
  REQUIRE_NOTHROW(grid(s.means, s.covariances, s.weights));
  REQUIRE_THROWS_WITH(grid(s.means.narrow(1, 0, 2), s.covariances, s.weights),
                      Contains("[N, 3]") && Contains("[5, 2]"));
  REQUIRE_THROWS_WITH(grid(s.means, s.covariances.narrow(0, 0, 4), s.weights),
                      Contains("[N, 3, 3]") && Contains("[4, 3, 3]"));
  REQUIRE_THROWS_WITH(grid(s.means, s.covariances, s.weights.narrow(0, 0, 3)), Contains("[N]"));
  at::Tensor neg = s.weights.clone();
  neg[2] = -0.1;
  REQUIRE_THROWS_WITH(grid(s.means, s.covariances, neg), Contains(">= 0") && Contains("index 2"));
  at::Tensor indefinite = s.covariances.clone();
  indefinite[3] = at::diag(at::tensor({0.01, 0.01, -0.01}, at::kDouble));
  REQUIRE_THROWS_WITH(grid(s.means, indefinite, s.weights),
                      Contains("positive definite") && Contains("index 3"));
  at::Tensor singular = s.covariances.clone();
  singular[1] = at::zeros({3, 3}, at::kDouble);
  REQUIRE_THROWS_WITH(grid(s.means, singular, s.weights), Contains("positive definite"));
  at::Tensor asymmetric = s.covariances.clone();
  asymmetric[0][0][1] += 0.01;
  REQUIRE_THROWS_WITH(grid(s.means, asymmetric, s.weights), Contains("symmetric"));
  at::Tensor nan = s.means.clone();
  nan[0][0] = std::nan("");
  REQUIRE_THROWS_WITH(grid(nan, s.covariances, s.weights), Contains("NaN"));
  REQUIRE_THROWS_AS(grid(s.means.to(at::kInt), s.covariances, s.weights), sds::Error);
  REQUIRE_THROWS_WITH(sds::splat_density_grid(s.means, s.covariances, s.weights, 1, kLo, kHi),
                      Contains("resolution"));
  REQUIRE_THROWS_WITH(sds::splat_density_grid(s.means, s.covariances, s.weights, 8, kLo, kHi, 0),
                      Contains("blocks"));
  REQUIRE_THROWS_WITH(
      sds::splat_density_grid(s.means, s.covariances, s.weights, 8, kLo, kHi, 4, 0.0),
      Contains("cutoff_sigma"));
  REQUIRE_THROWS_WITH(sds::splat_density_grid(s.means, s.covariances, s.weights, 8, kHi, kLo),
                      Contains("hi > lo"));

  at::Tensor points = at::zeros({4, 3}, at::kDouble);
  REQUIRE_NOTHROW(sds::splat_field(points, s.means, s.covariances, s.weights, s.colors));
  REQUIRE_THROWS_WITH(
      sds::splat_field(points.narrow(1, 0, 2), s.means, s.covariances, s.weights, s.colors),
      Contains("[P, 3]"));
  REQUIRE_THROWS_WITH(
      sds::splat_field(points, s.means, s.covariances, s.weights, s.colors.narrow(0, 0, 4)),
      Contains("[N, C]"));
  REQUIRE_THROWS_AS(sds::splat_field(points, s.means, indefinite, s.weights, s.colors), sds::Error);
  at::Tensor nan_points = points.clone();
  nan_points[1][1] = std::nan("");
  REQUIRE_THROWS_AS(sds::splat_field(nan_points, s.means, s.covariances, s.weights, s.colors),
                    sds::Error);
}

namespace {

// Cells [n, n, n] whose three indices all lie in [lo, hi].
at::Tensor index_box(int64_t n, int64_t lo, int64_t hi) {
  const at::Tensor i = at::arange(n);
  auto g = at::meshgrid({i, i, i}, "ij");
  at::Tensor in = at::ones({n, n, n}, at::kBool);
  for (const auto& a : g) in = in & (a >= lo) & (a <= hi);
  return in;
}

}  // namespace

TEST_CASE("fill_enclosed_cavities fills closed shells and nothing that reaches the boundary",
          "[geometry][cavities]") {
  const int64_t n = 12;
  const at::Tensor block = index_box(n, 2, 9);
  const at::Tensor shell = block & ~index_box(n, 3, 8);
  // A closed shell is filled exactly to its outer surface.
  CHECK(at::equal(sds::fill_enclosed_cavities(shell), block));
  // One missing wall cell opens the cavity: nothing is filled.
  at::Tensor holed = shell.clone();
  holed[2][5][5] = false;
  CHECK(at::equal(sds::fill_enclosed_cavities(holed), holed));
  // A shell inside the cavity of another: both cavities are filled.
  const at::Tensor nested = shell | (index_box(n, 4, 7) & ~index_box(n, 5, 6));
  CHECK(at::equal(sds::fill_enclosed_cavities(nested), block));
  // Face neighbours only: a cell whose six face neighbours are solid is enclosed even when an
  // empty tunnel to the boundary passes its edge-diagonal neighbour.
  at::Tensor tunnel = index_box(n, 3, 7);
  tunnel[5][5][5] = false;
  for (int64_t x = 0; x <= 4; ++x) tunnel[x][4][5] = false;
  at::Tensor expected = tunnel.clone();
  expected[5][5][5] = true;
  CHECK(at::equal(sds::fill_enclosed_cavities(tunnel), expected));
  // Empty and full lattices stay as they are; so does a solid touching the boundary.
  const at::Tensor empty = at::zeros({n, n, n}, at::kBool);
  CHECK(at::equal(sds::fill_enclosed_cavities(empty), empty));
  CHECK(at::equal(sds::fill_enclosed_cavities(~empty), ~empty));
  at::Tensor slab = empty.clone();
  slab.select(2, 0).fill_(true);
  CHECK(at::equal(sds::fill_enclosed_cavities(slab), slab));
  // A non-cubic lattice: a one-cell hole in the middle of a 5 x 3 x 3 bar is enclosed.
  at::Tensor bar = at::zeros({7, 5, 5}, at::kBool);
  bar.slice(0, 1, 6).slice(1, 1, 4).slice(2, 1, 4).fill_(true);
  at::Tensor hollow = bar.clone();
  hollow[3][2][2] = false;
  CHECK(at::equal(sds::fill_enclosed_cavities(hollow), bar));

  CHECK_THROWS_AS(sds::fill_enclosed_cavities(shell.to(at::kFloat)), sds::Error);
  CHECK_THROWS_AS(sds::fill_enclosed_cavities(shell[0]), sds::Error);
  CHECK_THROWS_AS(sds::fill_enclosed_cavities(at::zeros({0, 3, 3}, at::kBool)), sds::Error);
}

TEST_CASE("the visual hull keeps exactly the points that every seeing view has in silhouette",
          "[geometry][visual_hull]") {
  // One view, one pixel off the silhouette: the points along that pixel's ray are carved at
  // every depth; points along the neighbouring rays are kept; a point behind the camera or
  // outside the image is not seen, so with no other view it is outside.
  const sds::CameraBatch one({sds::Camera::orbit(20, 30, 3.0, 40, 16, 16)});
  at::Tensor masks = at::ones({1, 16, 16}, at::kBool);
  masks[0][5][9] = false;
  const sds::Rays rays = one.rays(1, at::kDouble);
  const at::Tensor o = rays.origins[0][5][9], d = rays.directions[0][5][9];
  const at::Tensor dn = rays.directions[0][5][10];
  std::vector<at::Tensor> points;
  for (double t : {1.0, 2.5, 3.0, 4.5}) points.push_back(o + t * d);  // carved
  for (double t : {1.0, 3.0, 4.5}) points.push_back(o + t * dn);      // kept
  points.push_back(o - 1.0 * d);                                      // behind the camera
  const at::Tensor inside =
      sds::inside_visual_hull(at::stack(points), masks, one.viewmats(), one.Ks());
  const std::vector<bool> expected{false, false, false, false, true, true, true, false};
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("point " << i);
    CHECK(inside[static_cast<int64_t>(i)].item<bool>() == expected[i]);
  }

  // A sphere of radius 0.5 seen from 64 views around it: each silhouette is the pixels whose
  // ray passes within 0.5 of the centre. Its hull holds the sphere (up to the nearest-pixel
  // rounding, under one pixel, 0.034 here) and hugs it: the cones of views about 90 degrees
  // apart leave less than 0.1 outside it.
  const sds::CameraBatch views(sds::sphere_views(64, 3.0, 40, 64, 64));
  const sds::Rays r = views.rays(1, at::kDouble);
  const at::Tensor miss = at::linalg_cross(r.origins, r.directions, -1).norm(2, -1);
  const at::Tensor sphere = miss <= 0.5;
  at::manual_seed(3);
  at::Tensor dirs = at::randn({4000, 3}, at::kDouble);
  dirs = dirs / dirs.norm(2, 1, true);
  const at::Tensor radius = at::rand({4000, 1}, at::kDouble) * 1.2;
  const at::Tensor p = dirs * radius;
  const at::Tensor hull = sds::inside_visual_hull(p, sphere, views.viewmats(), views.Ks());
  const at::Tensor rr = radius.squeeze(1);
  CHECK(hull.masked_select(rr < 0.46).all().item<bool>());
  CHECK_FALSE(hull.masked_select(rr > 0.6).any().item<bool>());
  CHECK((rr < 0.46).sum().item<int64_t>() > 100);

  CHECK_THROWS_AS(sds::inside_visual_hull(p, sphere.to(at::kFloat), views.viewmats(), views.Ks()),
                  sds::Error);
  CHECK_THROWS_AS(sds::inside_visual_hull(p.slice(1, 0, 2), sphere, views.viewmats(), views.Ks()),
                  sds::Error);
  CHECK_THROWS_AS(sds::inside_visual_hull(p, sphere, views.viewmats().slice(0, 0, 3), views.Ks()),
                  sds::Error);
  CHECK_THROWS_AS(sds::inside_visual_hull(p, sphere, views.viewmats(), views.Ks()[0]), sds::Error);
}

TEST_CASE("geometry timings and accuracy figures", "[.][geometry][report]") {
  auto [X, Y, Z] = grid_coords(128, kLo, kHi);
  const double r = 0.7;
  at::Tensor values = sphere_field(X, Y, Z, {0, 0, 0}, r).to(at::kFloat);
  sds::Mesh m;
  sds::marching_cubes(values, 0.0, kLo, kHi);  // warm-up
  const double t_mc = seconds([&] { m = sds::marching_cubes(values, 0.0, kLo, kHi); });
  std::printf("marching cubes 128^3 sphere: %.1f ms, %lld vertices, %lld faces\n", 1e3 * t_mc,
              static_cast<long long>(m.num_vertices()), static_cast<long long>(m.num_faces()));
  std::printf("  area rel err %.3e, volume rel err %.3e\n",
              sds::surface_area(m) / (4 * kPi * r * r) - 1,
              sds::enclosed_volume(m) / (4.0 / 3.0 * kPi * r * r * r) - 1);
  const double R = 0.5, rr = 0.2;
  at::Tensor torus = rr - ((X.square() + Y.square()).sqrt() - R).square().add(Z.square()).sqrt();
  sds::Mesh t = sds::marching_cubes(torus, 0.0, kLo, kHi);
  std::printf("  torus area rel err %.3e, volume rel err %.3e\n",
              sds::surface_area(t) / (4 * kPi * kPi * R * rr) - 1,
              sds::enclosed_volume(t) / (2 * kPi * kPi * R * rr * rr) - 1);

  Splats s = random_splats(20000, 0.01, 0.05, 21);
  at::Tensor grid;
  const double t_grid = seconds([&] {
    grid = sds::splat_density_grid(s.means.to(at::kFloat), s.covariances.to(at::kFloat),
                                   s.weights.to(at::kFloat), 128, kLo, kHi);
  });
  std::printf("splat_density_grid 20k Gaussians (scales 0.01-0.05) at 128^3: %.1f ms\n",
              1e3 * t_grid);
  Splats big = random_splats(20000, 0.02, 0.12, 22);
  const double t_big = seconds([&] {
    grid = sds::splat_density_grid(big.means, big.covariances, big.weights, 128, kLo, kHi);
  });
  std::printf("splat_density_grid 20k Gaussians (scales 0.02-0.12) at 128^3: %.1f ms\n",
              1e3 * t_big);
  at::Tensor points = at::rand({100000, 3}, sds::make_generator(23), at::kDouble) * 1.8 - 0.9;
  const double t_field =
      seconds([&] { sds::splat_field(points, s.means, s.covariances, s.weights, s.colors); });
  std::printf("splat_field 1e5 points, 20k Gaussians (scales 0.01-0.05): %.1f ms\n", 1e3 * t_field);
  const double t_field_big = seconds(
      [&] { sds::splat_field(points, big.means, big.covariances, big.weights, big.colors); });
  std::printf("splat_field 1e5 points, 20k Gaussians (scales 0.02-0.12): %.1f ms\n",
              1e3 * t_field_big);
  std::printf("threads: %d\n", at::get_num_threads());
  SUCCEED();
}
