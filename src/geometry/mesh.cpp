#include "sds/geometry/mesh.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/core/io.h"

namespace sds {
namespace {

// CPU, contiguous copies of a checked mesh, so every reader below can walk raw pointers.
struct HostMesh {
  at::Tensor vertices;  // [V, 3] float32
  at::Tensor faces;     // [F, 3] int64
  at::Tensor colors;    // [V, 3] float32 or undefined
};

HostMesh host_mesh(const Mesh& mesh, const char* what) {
  check_mesh(mesh, what);
  HostMesh h;
  h.vertices = mesh.vertices.detach().to(at::kCPU).contiguous();
  h.faces = mesh.faces.detach().to(at::kCPU).contiguous();
  if (mesh.colors.defined()) h.colors = mesh.colors.detach().to(at::kCPU).contiguous();
  return h;
}

using Vec3 = std::array<double, 3>;

Vec3 vertex(const float* v, int64_t i) {
  return {double(v[3 * i]), double(v[3 * i + 1]), double(v[3 * i + 2])};
}

Vec3 sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Little-endian byte writers: PLY fixes the byte order, the host may not match it.
void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }

void put_u32(std::string& out, uint32_t v) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xffu));
}

void put_f32(std::string& out, float v) {
  uint32_t bits;
  static_assert(sizeof(bits) == sizeof(v));
  std::memcpy(&bits, &v, sizeof(v));
  put_u32(out, bits);
}

uint8_t color_byte(float c) {
  return static_cast<uint8_t>(std::lround(std::clamp(c, 0.0f, 1.0f) * 255.0f));
}

}  // namespace

void check_mesh(const Mesh& mesh, const char* what) {
  const std::string name = what;
  check_shape(mesh.vertices, name + " vertices", {-1, 3}, "[V, 3]");
  check_dtype(mesh.vertices, name + " vertices", at::kFloat);
  check_shape(mesh.faces, name + " faces", {-1, 3}, "[F, 3]");
  check_dtype(mesh.faces, name + " faces", at::kLong);
  check_finite(mesh.vertices, name + " vertices");
  const int64_t V = mesh.vertices.size(0);
  if (mesh.faces.numel() > 0) {
    const int64_t lo = mesh.faces.min().item<int64_t>();
    const int64_t hi = mesh.faces.max().item<int64_t>();
    SDS_CHECK(lo >= 0 && hi < V,
              "{} faces: expected vertex indices in [0, {}) for {} vertices, got indices in "
              "[{}, {}]",
              name, V, V, lo, hi);
  }
  if (mesh.colors.defined()) {
    check_shape(mesh.colors, name + " colors", {V, 3}, "[V, 3] (one colour per vertex)");
    check_dtype(mesh.colors, name + " colors", at::kFloat);
    check_finite(mesh.colors, name + " colors");
    if (mesh.colors.numel() > 0) {
      const float lo = mesh.colors.min().item<float>();
      const float hi = mesh.colors.max().item<float>();
      SDS_CHECK(lo >= 0.0f && hi <= 1.0f, "{} colors: expected values in [0, 1], got [{}, {}]",
                name, lo, hi);
    }
  }
}

double surface_area(const Mesh& mesh) {
  HostMesh h = host_mesh(mesh, "surface_area mesh");
  const float* v = h.vertices.data_ptr<float>();
  const int64_t* f = h.faces.data_ptr<int64_t>();
  double area = 0.0;
  for (int64_t i = 0; i < h.faces.size(0); ++i) {
    const Vec3 a = vertex(v, f[3 * i]), b = vertex(v, f[3 * i + 1]), c = vertex(v, f[3 * i + 2]);
    const Vec3 n = cross(sub(b, a), sub(c, a));
    area += 0.5 * std::sqrt(dot(n, n));
  }
  return area;
}

double enclosed_volume(const Mesh& mesh) {
  HostMesh h = host_mesh(mesh, "enclosed_volume mesh");
  const float* v = h.vertices.data_ptr<float>();
  const int64_t* f = h.faces.data_ptr<int64_t>();
  // Tetrahedra against the mesh centroid instead of the origin: the same sum for a closed mesh,
  // with far less cancellation when the mesh sits away from the origin.
  Vec3 centre{0, 0, 0};
  const int64_t V = h.vertices.size(0);
  for (int64_t i = 0; i < V; ++i) {
    for (int k = 0; k < 3; ++k) centre[k] += v[3 * i + k];
  }
  if (V > 0) {
    for (int k = 0; k < 3; ++k) centre[k] /= double(V);
  }
  double volume = 0.0;
  for (int64_t i = 0; i < h.faces.size(0); ++i) {
    const Vec3 a = sub(vertex(v, f[3 * i]), centre), b = sub(vertex(v, f[3 * i + 1]), centre),
               c = sub(vertex(v, f[3 * i + 2]), centre);
    volume += dot(a, cross(b, c)) / 6.0;
  }
  return volume;
}

bool is_watertight(const Mesh& mesh) {
  HostMesh h = host_mesh(mesh, "is_watertight mesh");
  const int64_t F = h.faces.size(0);
  if (F == 0) return false;
  const int64_t* f = h.faces.data_ptr<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> edges;
  edges.reserve(static_cast<size_t>(3 * F));
  for (int64_t i = 0; i < F; ++i) {
    for (int k = 0; k < 3; ++k) {
      const int64_t a = f[3 * i + k], b = f[3 * i + (k + 1) % 3];
      if (a == b) return false;
      edges.emplace_back(a, b);
    }
  }
  std::sort(edges.begin(), edges.end());
  // Each directed edge once and its reverse once means exactly two faces per undirected edge,
  // traversing it in opposite directions (consistent orientation).
  if (std::adjacent_find(edges.begin(), edges.end()) != edges.end()) return false;
  for (const auto& [a, b] : edges) {
    if (!std::binary_search(edges.begin(), edges.end(), std::make_pair(b, a))) return false;
  }
  return true;
}

void write_obj(const std::filesystem::path& path, const Mesh& mesh) {
  HostMesh h = host_mesh(mesh, "write_obj mesh");
  const float* v = h.vertices.data_ptr<float>();
  const float* c = h.colors.defined() ? h.colors.data_ptr<float>() : nullptr;
  const int64_t* f = h.faces.data_ptr<int64_t>();
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "# sds mesh: {} vertices, {} faces\n", h.vertices.size(0), h.faces.size(0));
  for (int64_t i = 0; i < h.vertices.size(0); ++i) {
    fmt::format_to(it, "v {} {} {}", v[3 * i], v[3 * i + 1], v[3 * i + 2]);
    if (c) fmt::format_to(it, " {} {} {}", c[3 * i], c[3 * i + 1], c[3 * i + 2]);
    out.push_back('\n');
  }
  // OBJ indices are 1-based.
  for (int64_t i = 0; i < h.faces.size(0); ++i) {
    fmt::format_to(it, "f {} {} {}\n", f[3 * i] + 1, f[3 * i + 1] + 1, f[3 * i + 2] + 1);
  }
  write_file_atomic(path, out);
}

void write_mesh_ply(const std::filesystem::path& path, const Mesh& mesh) {
  HostMesh h = host_mesh(mesh, "write_mesh_ply mesh");
  const int64_t V = h.vertices.size(0), F = h.faces.size(0);
  SDS_CHECK(V <= std::numeric_limits<int32_t>::max(),
            "write_mesh_ply: expected at most {} vertices (PLY int indices), got {}",
            std::numeric_limits<int32_t>::max(), V);
  const float* v = h.vertices.data_ptr<float>();
  const float* c = h.colors.defined() ? h.colors.data_ptr<float>() : nullptr;
  const int64_t* f = h.faces.data_ptr<int64_t>();
  std::string out = fmt::format(
      "ply\nformat binary_little_endian 1.0\ncomment sds mesh\nelement vertex {}\n"
      "property float x\nproperty float y\nproperty float z\n",
      V);
  if (c) out += "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  out += fmt::format("element face {}\nproperty list uchar int vertex_indices\nend_header\n", F);
  out.reserve(out.size() + static_cast<size_t>(V * (c ? 15 : 12) + F * 13));
  for (int64_t i = 0; i < V; ++i) {
    for (int k = 0; k < 3; ++k) put_f32(out, v[3 * i + k]);
    if (c) {
      for (int k = 0; k < 3; ++k) put_u8(out, color_byte(c[3 * i + k]));
    }
  }
  for (int64_t i = 0; i < F; ++i) {
    put_u8(out, 3);
    for (int k = 0; k < 3; ++k) put_u32(out, static_cast<uint32_t>(f[3 * i + k]));
  }
  write_file_atomic(path, out);
}

}  // namespace sds
