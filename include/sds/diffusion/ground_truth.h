#pragma once
// Ground-truth images of a concept by exact ray-primitive intersection (docs/exact-prior.md):
// no learned renderer is involved, so tests that compare a representation against these images
// are not circular.

#include <ATen/ATen.h>

#include <array>

#include "sds/camera/camera.h"
#include "sds/diffusion/prior.h"
#include "sds/diffusion/scene.h"

namespace sds {

/// Shading and anti-aliasing of the ground truth. Lambertian with a fixed world-space light, so
/// radiance is view-independent: colour = albedo * (ambient + diffuse * max(0, n . l)).
struct GroundTruthOptions {
  int64_t supersample = 3;                     ///< s x s sub-pixel rays per pixel, averaged
  std::array<double, 3> light_dir{1, 0.5, 1};  ///< towards the light; normalised inside
  double ambient = 0.35;
  double diffuse = 0.65;
};

/// The fraction of `samples`^3 sub-points of each cell that lie inside the concept's object, for
/// cells of side `cell` centred on `points` `[N, 3]` (float64, world units): `[N]` in [0, 1].
/// With `cell` = 0 it is the exact inside test (0 or 1) at the points.
at::Tensor concept_occupancy(const Concept& concept_, const at::Tensor& points, double cell = 0.0,
                             int64_t samples = 2);

/// Renders `concept_` from every camera of `cameras` (double-precision intersection on the CPU,
/// parallel over pixels). The concept is validated first (sds::Error on invalid input); a family
/// is an sds::Error (render one of its `members()`), as it is for concept_occupancy.
GroundTruthImages render_ground_truth(const Concept& concept_, const CameraBatch& cameras,
                                      const GroundTruthOptions& options = {});

}  // namespace sds
