// Marching cubes with per-case polygons derived once, on first use, from the corner signs (no
// stored 256-entry table): each cube face contributes at most two directed contour segments, and
// the segments of the six faces link into closed cycles, one polygon each, triangulated as a fan.

#include "sds/geometry/marching_cubes.h"

#include <ATen/Parallel.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {
namespace {

// Conventions of this file. Corner c of a cube has offset (c & 1, (c >> 1) & 1, (c >> 2) & 1).
// Edge e runs along axis e / 4 from its low corner; bits 0 and 1 of e % 4 are that corner's
// coordinates on the two other axes, in increasing axis order. A case is the 8-bit mask of the
// corners whose value is above iso ("inside").
constexpr int kMaxTriangles = 10;  // at most 12 crossed edges, so at most 10 triangles

struct CubeEdge {
  int axis;
  std::array<int, 3> base;  // offset of the low corner
};

struct CaseTables {
  std::array<CubeEdge, 12> edges;
  std::array<int, 256> triangle_count;
  std::array<std::array<int8_t, 3 * kMaxTriangles>, 256> triangles;  // cube edge ids
};

int edge_between(int c0, int c1) {
  const int diff = c0 ^ c1;
  const int axis = diff == 1 ? 0 : diff == 2 ? 1 : 2;
  const int low = c0 & c1;
  int slot = 0, bit = 0;
  for (int a = 0; a < 3; ++a) {
    if (a == axis) continue;
    slot |= ((low >> a) & 1) << bit;
    ++bit;
  }
  return 4 * axis + slot;
}

// Polygon boundary direction: with the surface normal n pointing out of the inside region, a
// boundary traversed counter-clockwise about n runs along each cube face f (outward normal f)
// in direction n x f. Seen from outside the cube, that keeps the inside corners of the face on
// the right of each segment. Walking the face's corners counter-clockwise (seen from outside),
// this is a segment from each crossing that enters the inside to the next crossing that leaves
// it. Pairing "enter -> next exit" is also the face-ambiguity rule: on a face with inside
// corners on one diagonal, each inside corner is cut off on its own. Both cubes sharing a face
// see the same four signs and therefore the same two segments (in opposite directions, as a
// shared edge of an oriented surface must be).
CaseTables build_tables() {
  CaseTables t{};
  for (int e = 0; e < 12; ++e) {
    const int axis = e / 4;
    std::array<int, 3> base{0, 0, 0};
    int bit = 0;
    for (int a = 0; a < 3; ++a) {
      if (a == axis) continue;
      base[a] = ((e % 4) >> bit) & 1;
      ++bit;
    }
    t.edges[e] = {axis, base};
  }

  // Each face's corners counter-clockwise seen from outside: (b, c) = (a + 1, a + 2) mod 3 is a
  // right-handed pair about +a, so the square (0,0) (1,0) (1,1) (0,1) in (b, c) turns
  // counter-clockwise about +a; the face at a = 0 looks along -a and takes it reversed.
  std::array<std::array<int, 4>, 6> faces;
  for (int a = 0; a < 3; ++a) {
    const int b = (a + 1) % 3, c = (a + 2) % 3;
    for (int side = 0; side < 2; ++side) {
      const int square[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
      for (int k = 0; k < 4; ++k) {
        const int* uv = square[side == 1 ? k : 3 - k];
        faces[2 * a + side][k] = (side << a) | (uv[0] << b) | (uv[1] << c);
      }
    }
  }

  std::array<int, 12> edge_faces{};  // bit f: the edge lies on face f
  for (int f = 0; f < 6; ++f) {
    for (int k = 0; k < 4; ++k) {
      edge_faces[edge_between(faces[f][k], faces[f][(k + 1) % 4])] |= 1 << f;
    }
  }

  for (int cube_case = 0; cube_case < 256; ++cube_case) {
    std::array<int, 12> next;
    next.fill(-1);
    for (const auto& face : faces) {
      bool in[4];
      for (int k = 0; k < 4; ++k) in[k] = (cube_case >> face[k]) & 1;
      for (int k = 0; k < 4; ++k) {
        if (in[k] || !in[(k + 1) % 4]) continue;
        int j = (k + 1) % 4;
        while (!(in[j] && !in[(j + 1) % 4])) j = (j + 1) % 4;
        next[edge_between(face[k], face[(k + 1) % 4])] = edge_between(face[j], face[(j + 1) % 4]);
      }
    }
    std::array<bool, 12> used{};
    int count = 0;
    for (int start = 0; start < 12; ++start) {
      if (next[start] < 0 || used[start]) continue;
      std::vector<int> polygon;
      for (int e = start; !used[e]; e = next[e]) {
        if (next[e] < 0) throw std::logic_error("marching_cubes: open contour in case table");
        used[e] = true;
        polygon.push_back(e);
      }
      const int n = static_cast<int>(polygon.size());
      // A polygon that crosses an ambiguous face twice holds both of that face's segments; a
      // diagonal between them would also be a line on the face, and the neighbouring cube may
      // draw the same one, giving an edge of four triangles. So the fan's apex must see no
      // vertex on a common face except its two neighbours. Such an apex exists in every case
      // (checked here, once).
      int apex = -1;
      for (int i = 0; i < n && apex < 0; ++i) {
        bool clear = true;
        for (int d = 2; d + 1 < n; ++d) {
          if (edge_faces[polygon[i]] & edge_faces[polygon[(i + d) % n]]) clear = false;
        }
        if (clear) apex = i;
      }
      if (apex < 0) throw std::logic_error("marching_cubes: no clean fan for a case polygon");
      for (int d = 1; d + 1 < n; ++d) {
        if (count >= kMaxTriangles) throw std::logic_error("marching_cubes: case table overflow");
        t.triangles[cube_case][3 * count] = static_cast<int8_t>(polygon[apex]);
        t.triangles[cube_case][3 * count + 1] = static_cast<int8_t>(polygon[(apex + d) % n]);
        t.triangles[cube_case][3 * count + 2] = static_cast<int8_t>(polygon[(apex + d + 1) % n]);
        ++count;
      }
    }
    t.triangle_count[cube_case] = count;
  }
  return t;
}

const CaseTables& tables() {
  static const CaseTables t = build_tables();
  return t;
}

template <typename T>
class Extractor {
 public:
  Extractor(const T* values, std::array<int64_t, 3> n, double iso, std::array<double, 3> lo,
            std::array<double, 3> step)
      : v_(values), n_(n), iso_(iso), lo_(lo), step_(step) {}

  Mesh run() {
    const int64_t Nx = n_[0], Ny = n_[1], Nz = n_[2];
    first_.assign(static_cast<size_t>(Nx * Ny * Nz), 0);
    bits_.assign(static_cast<size_t>(Nx * Ny * Nz), 0);

    // Vertices, one per crossed grid edge, numbered slab by slab (x, then y, then z, then the
    // edge's axis), so the numbering does not depend on how slabs are spread over threads.
    std::vector<std::vector<float>> slab_vertices(static_cast<size_t>(Nx));
    at::parallel_for(0, Nx, 1, [&](int64_t begin, int64_t end) {
      for (int64_t ix = begin; ix < end; ++ix) emit_vertices(ix, slab_vertices[ix]);
    });
    slab_offset_.assign(static_cast<size_t>(Nx) + 1, 0);
    for (int64_t ix = 0; ix < Nx; ++ix) {
      slab_offset_[ix + 1] = slab_offset_[ix] + static_cast<int64_t>(slab_vertices[ix].size() / 3);
    }

    std::vector<std::vector<int64_t>> slab_faces(static_cast<size_t>(Nx - 1));
    at::parallel_for(0, Nx - 1, 1, [&](int64_t begin, int64_t end) {
      for (int64_t ix = begin; ix < end; ++ix) emit_faces(ix, slab_faces[ix]);
    });

    int64_t F = 0;
    for (const auto& f : slab_faces) F += static_cast<int64_t>(f.size() / 3);
    Mesh mesh;
    mesh.vertices = at::empty({slab_offset_[Nx], 3}, at::kFloat);
    mesh.faces = at::empty({F, 3}, at::kLong);
    float* vp = mesh.vertices.data_ptr<float>();
    // memcpy from an empty slab (a null data()) is undefined even for 0 bytes.
    for (int64_t ix = 0; ix < Nx; ++ix) {
      if (slab_vertices[ix].empty()) continue;
      std::memcpy(vp + 3 * slab_offset_[ix], slab_vertices[ix].data(),
                  slab_vertices[ix].size() * sizeof(float));
    }
    int64_t* fp = mesh.faces.data_ptr<int64_t>();
    for (const auto& f : slab_faces) {
      if (f.empty()) continue;
      std::memcpy(fp, f.data(), f.size() * sizeof(int64_t));
      fp += f.size();
    }
    return mesh;
  }

 private:
  static constexpr uint8_t kInsideBit = 8;

  int64_t index(int64_t ix, int64_t iy, int64_t iz) const { return (ix * n_[1] + iy) * n_[2] + iz; }

  bool inside(int64_t i) const { return static_cast<double>(v_[i]) > iso_; }

  // Bit a set when the grid edge from (ix, iy, iz) along axis a exists and crosses iso.
  int crossings(int64_t ix, int64_t iy, int64_t iz) const {
    const int64_t i = index(ix, iy, iz);
    const bool here = inside(i);
    int mask = 0;
    if (ix + 1 < n_[0] && inside(i + n_[1] * n_[2]) != here) mask |= 1;
    if (iy + 1 < n_[1] && inside(i + n_[2]) != here) mask |= 2;
    if (iz + 1 < n_[2] && inside(i + 1) != here) mask |= 4;
    return mask;
  }

  void emit_vertices(int64_t ix, std::vector<float>& out) {
    const int64_t strides[3] = {n_[1] * n_[2], n_[2], 1};
    int32_t count = 0;
    for (int64_t iy = 0; iy < n_[1]; ++iy) {
      for (int64_t iz = 0; iz < n_[2]; ++iz) {
        const int64_t i = index(ix, iy, iz);
        first_[i] = count;
        const int mask = crossings(ix, iy, iz);
        bits_[i] = static_cast<uint8_t>(mask | (inside(i) ? kInsideBit : 0));
        if (mask == 0) continue;
        const int64_t g[3] = {ix, iy, iz};
        const double v0 = static_cast<double>(v_[i]);
        for (int a = 0; a < 3; ++a) {
          if (!((mask >> a) & 1)) continue;
          const double v1 = static_cast<double>(v_[i + strides[a]]);
          // The crossing guarantees v1 != v0, and t lands in [0, 1].
          const double t = (iso_ - v0) / (v1 - v0);
          for (int k = 0; k < 3; ++k) {
            const double coord = static_cast<double>(g[k]) + (k == a ? t : 0.0);
            out.push_back(static_cast<float>(lo_[k] + coord * step_[k]));
          }
          ++count;
        }
      }
    }
  }

  int64_t vertex_id(int64_t ix, int64_t iy, int64_t iz, int axis) const {
    const int64_t i = index(ix, iy, iz);
    return slab_offset_[ix] + first_[i] + std::popcount(unsigned(bits_[i] & ((1 << axis) - 1)));
  }

  void emit_faces(int64_t ix, std::vector<int64_t>& out) const {
    const CaseTables& t = tables();
    for (int64_t iy = 0; iy + 1 < n_[1]; ++iy) {
      for (int64_t iz = 0; iz + 1 < n_[2]; ++iz) {
        int cube_case = 0;
        for (int c = 0; c < 8; ++c) {
          const int64_t i = index(ix + (c & 1), iy + ((c >> 1) & 1), iz + ((c >> 2) & 1));
          cube_case |= ((bits_[i] & kInsideBit) >> 3) << c;
        }
        const int count = t.triangle_count[cube_case];
        for (int k = 0; k < 3 * count; ++k) {
          const CubeEdge& e = t.edges[t.triangles[cube_case][k]];
          out.push_back(vertex_id(ix + e.base[0], iy + e.base[1], iz + e.base[2], e.axis));
        }
      }
    }
  }

  const T* v_;
  std::array<int64_t, 3> n_;
  double iso_;
  std::array<double, 3> lo_, step_;
  std::vector<int32_t> first_;  // index of a sample's first edge vertex within its slab
  std::vector<uint8_t> bits_;   // a sample's crossings() mask, and kInsideBit
  std::vector<int64_t> slab_offset_;
};

}  // namespace

Mesh marching_cubes(const at::Tensor& values, double iso, std::array<double, 3> lo,
                    std::array<double, 3> hi) {
  check_shape(values, "marching_cubes values", {-1, -1, -1}, "[Nx, Ny, Nz]");
  check_floating(values, "marching_cubes values");
  for (int a = 0; a < 3; ++a) {
    SDS_CHECK(values.size(a) >= 2,
              "marching_cubes values: expected at least 2 samples per axis, got shape {}",
              shape_string(values.sizes()));
  }
  SDS_CHECK(values.size(1) * values.size(2) <= std::numeric_limits<int32_t>::max() / 3,
            "marching_cubes values: expected Ny * Nz <= {}, got shape {}",
            std::numeric_limits<int32_t>::max() / 3, shape_string(values.sizes()));
  SDS_CHECK(std::isfinite(iso), "marching_cubes: expected a finite iso value, got {}", iso);
  std::array<double, 3> step;
  std::array<int64_t, 3> n;
  for (int a = 0; a < 3; ++a) {
    SDS_CHECK(std::isfinite(lo[a]) && std::isfinite(hi[a]) && hi[a] > lo[a],
              "marching_cubes: expected finite bounds with hi > lo on every axis, got lo = [{}, "
              "{}, {}], hi = [{}, {}, {}]",
              lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
    n[a] = values.size(a);
    step[a] = (hi[a] - lo[a]) / static_cast<double>(n[a] - 1);
  }
  at::Tensor v = values.detach().to(at::kCPU).contiguous();
  check_finite(v, "marching_cubes values");
  if (v.scalar_type() == at::kDouble) {
    return Extractor<double>(v.data_ptr<double>(), n, iso, lo, step).run();
  }
  return Extractor<float>(v.data_ptr<float>(), n, iso, lo, step).run();
}

}  // namespace sds
