#pragma once
// Marching cubes: the iso-surface of a scalar field sampled on a regular grid, as an indexed,
// watertight triangle mesh.

#include <ATen/ATen.h>

#include <array>

#include "sds/geometry/mesh.h"

namespace sds {

/// The surface {value = iso} of the field `values` [Nx, Ny, Nz] (float32 or float64, finite, every
/// N >= 2, indexed [ix][iy][iz]), whose sample (ix, iy, iz) sits at
/// lo + (ix, iy, iz) * (hi - lo) / (N - 1) (hi > lo on every axis).
///
/// The surface encloses the region value > iso; faces are counter-clockwise seen from outside it
/// (normals towards lower values), so enclosed_volume is positive. Vertices are linearly
/// interpolated on the grid edges whose end values straddle iso, one vertex per such edge shared
/// by the cubes around it; colours are left undefined. Each cube's polygons are traced across its
/// six faces with one rule for a face whose opposite corners agree (high, low, high, low): the two
/// high corners are always cut off separately (the high region does not connect across the face
/// diagonal). The rule depends only on that face's signs, so the two cubes sharing a face agree
/// and the mesh is watertight wherever the region value > iso does not reach the grid boundary
/// (where it does, the surface is open there). A vertex landing exactly on a grid corner can make
/// zero-area triangles; they are kept. Runs in parallel over x-slabs; the output does not depend
/// on the thread count. Scratch memory: 5 bytes per grid sample.
Mesh marching_cubes(const at::Tensor& values, double iso, std::array<double, 3> lo,
                    std::array<double, 3> hi);

}  // namespace sds
