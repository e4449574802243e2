#pragma once
// The 3D representation interface: parameters that render to images.

#include <ATen/ATen.h>

#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/core/optimizer_state.h"
#include "sds/core/parameter_group.h"

namespace sds {

/// Per-render settings that do not belong to the representation.
struct RenderOptions {
  std::array<double, 3> background{1.0, 1.0, 1.0};  ///< linear RGB behind the object
  /// The 0-based training step of the render (schedules such as the NeRF's albedo-only warm-up);
  /// -1 outside training.
  int64_t step = -1;
  /// The draws of training-time augmentation (the NeRF's random light and shading mode); unset
  /// for the deterministic evaluation render.
  std::optional<at::Generator> generator;
};

/// What a representation renders: rgb `[B, 3, H, W]` in [0, 1] (composited over the background),
/// alpha `[B, 1, H, W]`, depth `[B, 1, H, W]` (expected distance along the ray, 0 where empty),
/// normal `[B, 3, H, W]` (undefined when the representation has none). The regularisers'
/// inputs are per pixel `[B, 1, H, W]` and undefined where they do not apply: z_variance, the
/// variance of the sample depths under the normalised weights (HiFA; volumetric renderers), and
/// orientation, sum_i stopgrad(w_i) max(0, <n_i, d>)^2 over the ray's samples (Ref-NeRF /
/// DreamFusion; renderers with per-sample normals).
struct RenderOutput {
  at::Tensor rgb;
  at::Tensor alpha;
  at::Tensor depth;
  at::Tensor normal;
  at::Tensor z_variance{};  // (initialisers: aggregate init with the first four stays warning-free)
  at::Tensor orientation{};
};

/// A differentiable 3D representation (voxel grid, NeRF, DMTet, Gaussians). It never knows which
/// guidance consumes its images.
class Representation {
 public:
  static constexpr const char* kInterfaceName = "representation";
  struct BuildContext {
    uint64_t seed = 0;             ///< for random initialisation
    at::Device device = at::kCPU;  ///< where the parameters live
  };
  virtual ~Representation() = default;

  /// Renders the cameras on the representation's device; differentiable w.r.t. the parameters.
  virtual RenderOutput render(const CameraBatch& cameras, const RenderOptions& options) = 0;

  /// The device of the state: the first named tensor's (CPU when there is none).
  virtual at::Device device();
  /// Moves the whole state to `device`; call it before an optimiser holds the parameters,
  /// which are replaced by new leaves. The default throws unless the state is already there.
  virtual void to(const at::Device& device);

  /// The trainable parameters with their default learning rates.
  virtual std::vector<ParameterGroup> parameter_groups() = 0;

  /// Every tensor of the state (parameters and buffers), by name, for checkpoints.
  virtual std::vector<std::pair<std::string, at::Tensor>> named_tensors() = 0;

  /// Called after each optimiser step with 0-based `step` (densification, pruning, occupancy
  /// updates). A representation that replaces its parameter tensors tells `optimizer`, which
  /// keeps the Adam state in step. No-op default.
  virtual void after_step(int64_t step, OptimizerState& optimizer) {}

  /// Restores the state from checkpointed tensors (by the names of named_tensors()). The default
  /// copies into the existing tensors and throws sds::Error on a missing name or another shape;
  /// representations whose sizes change during training replace their tensors instead and tell
  /// `optimizer`.
  virtual void restore_tensors(const std::map<std::string, at::Tensor>& stored,
                               OptimizerState& optimizer);

  /// File formats export_file() writes ("obj", "ply", ...); none by default.
  virtual std::vector<std::string> export_formats() const { return {}; }
  /// Writes the representation to `path` in `format` (one of export_formats()), atomically.
  virtual void export_file(const std::filesystem::path& path, const std::string& format);

  /// Whether world points `[N, 3]` (float64) lie inside the object as this representation's
  /// geometry defines it (the solid its mesh export bounds): `[N]` bool. Undefined (the default)
  /// for a representation without a notion of inside; then no geometry score is reported.
  virtual at::Tensor inside(const at::Tensor& points) const { return {}; }

  /// An occupancy field: the fraction inside the object of cells of side `cell` centred on
  /// world points `[N, 3]` (float64), `[N]` in [0, 1].
  using Occupancy = std::function<at::Tensor(const at::Tensor& points, double cell)>;
  /// Sets the geometry to an occupancy field and stops training it, so that only the appearance
  /// is optimised (DreamCraft3D's texture stage on a fixed geometry). Representations that
  /// cannot do this throw sds::Error.
  virtual void fix_geometry(const Occupancy& occupancy);
};

}  // namespace sds
