#pragma once
// Triangle meshes: the common output of every representation's mesh export.

#include <ATen/ATen.h>

#include <filesystem>

namespace sds {

/// An indexed triangle mesh. Faces are counter-clockwise seen from outside (normals point out).
struct Mesh {
  at::Tensor vertices;  ///< [V, 3] float32 world positions
  at::Tensor faces;     ///< [F, 3] int64 vertex indices
  at::Tensor colors;    ///< [V, 3] float32 linear RGB in [0, 1], or undefined

  int64_t num_vertices() const { return vertices.defined() ? vertices.size(0) : 0; }
  int64_t num_faces() const { return faces.defined() ? faces.size(0) : 0; }
};

/// Throws sds::Error unless the mesh is well formed: shapes and dtypes as documented, finite
/// vertices, face indices in [0, V), colours (if any) in [0, 1]. `what` names the mesh in the
/// message. Empty meshes ([0, 3] vertices and faces) are well formed.
void check_mesh(const Mesh& mesh, const char* what);

/// Total surface area (sum of the triangle areas, in double).
double surface_area(const Mesh& mesh);

/// Signed enclosed volume (divergence theorem); positive for a closed outward-oriented mesh.
double enclosed_volume(const Mesh& mesh);

/// True when every edge is shared by exactly two faces with opposite orientations (closed and
/// consistently oriented, i.e. watertight). A mesh without faces, or with a face that repeats a
/// vertex, is not. Only edges are checked: two sheets touching at a single vertex still pass.
bool is_watertight(const Mesh& mesh);

/// Writes Wavefront OBJ ("v x y z", or "v x y z r g b" with colours in [0, 1] when the mesh has
/// them; 1-based "f a b c"), atomically.
void write_obj(const std::filesystem::path& path, const Mesh& mesh);

/// Writes binary little-endian PLY, atomically: vertex float x, y, z (+ uchar red, green, blue,
/// round(255 c), when the mesh has colours); face "list uchar int vertex_indices".
void write_mesh_ply(const std::filesystem::path& path, const Mesh& mesh);

}  // namespace sds
