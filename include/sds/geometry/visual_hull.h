#pragma once
// The visual hull of silhouettes (Laurentini 1994): the points that every view sees inside its
// silhouette. A representation's renders are trimmed to it so that its solid holds nothing that
// renders as background, e.g. the half-transparent fringes a NeRF grows around thin parts to
// match anti-aliased images.

#include <ATen/ATen.h>

namespace sds {

/// Whether each world point `[N, 3]` lies in the visual hull of the silhouettes `masks`
/// `[V, H, W]` (bool, true on the object) seen by cameras with world-to-camera matrices
/// `viewmats` `[V, 4, 4]` (OpenCV axes: +z forward) and pinhole intrinsics `Ks` `[V, 3, 3]`.
/// A view sees a point when it lies in front of the camera and inside the image; the point's
/// pixel is the one containing its projection (pixel (i, j) covers [j, j + 1) x [i, i + 1)).
/// A point is inside when some view sees it and every view that sees it has it in its
/// silhouette. Returns `[N]` bool on the masks' device; the projection runs in float64.
at::Tensor inside_visual_hull(const at::Tensor& points, const at::Tensor& masks,
                              const at::Tensor& viewmats, const at::Tensor& Ks);

}  // namespace sds
