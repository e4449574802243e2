#pragma once
// 3D Gaussian splatting as a Representation: parameters, initialisation, learning rates,
// densification and export (DreamGaussian's stage 1 on our rasteriser).

#include <memory>
#include <string>

#include "sds/core/json.h"
#include "sds/geometry/mesh.h"
#include "sds/repr/gaussian_strategy.h"
#include "sds/repr/gaussian_tensors.h"
#include "sds/repr/representation.h"

namespace sds {

/// Options of the Gaussians; JSON keys are the field names ("densify" is an object, see
/// DensifyOptions). Defaults are DreamGaussian's (image.yaml; its spatial_lr_scale of 10 folded
/// into the position learning rates).
struct GaussiansOptions {
  std::string init = "ball";   ///< "ball": uniform in a ball; "ply": a 3DGS file
  int64_t num_points = 5000;   ///< ball init (DreamGaussian: 5000)
  double init_radius = 0.5;    ///< ball init (DreamGaussian: 0.5)
  double init_opacity = 0.1;
  std::string ply;             ///< the file of init "ply"
  int64_t sh_degree = 0;       ///< largest SH degree, 0..3 (DreamGaussian: 0)
  int64_t sh_degree_every = 1000;  ///< the active degree rises by one every N steps (3DGS)
  bool antialiased = false;    ///< Mip-Splatting opacity compensation
  double eps2d = 0.3;
  double means_lr = 0.01;      ///< log-linear decay to means_lr_final over means_lr_steps
  double means_lr_final = 0.0002;
  int64_t means_lr_steps = 500;
  double sh0_lr = 0.01;
  double shN_lr = 0.0005;
  double opacity_lr = 0.05;
  double scale_lr = 0.005;
  double quat_lr = 0.005;
  double mesh_iso = 1.0;       ///< iso-level of the opacity-weighted density (DreamGaussian: 1)
  int64_t mesh_resolution = 128;
  DensifyOptions densify = DensifyOptions::preset("dreamgaussian");
};

/// N Gaussians with SH colour, rendered by ops::rasterize. Exports "ply" (the 3DGS splat file),
/// "obj" and "mesh_ply" (a mesh of the density, with vertex colours).
class Gaussians : public Representation {
 public:
  /// Initialises from options.init with `seed`.
  Gaussians(GaussiansOptions options, uint64_t seed);
  /// Initialises from raw tensors (e.g. read_gaussian_ply); sh carries K >= (degree + 1)^2
  /// coefficients (missing higher ones are zero).
  Gaussians(GaussiansOptions options, const GaussianTensors& tensors, uint64_t seed);
  /// From a point cloud [N, 3] with colours [N, 3] in [0, 1]: 3-NN scales, identity rotations,
  /// options.init_opacity (the 3DGS initialisation from SfM points).
  static std::unique_ptr<Gaussians> from_points(GaussiansOptions options, const at::Tensor& points,
                                                const at::Tensor& colors, uint64_t seed);
  static std::unique_ptr<Representation> from_config(ConfigReader& config,
                                                     const BuildContext& context);

  RenderOutput render(const CameraBatch& cameras, const RenderOptions& options) override;
  void to(const at::Device& device) override;
  std::vector<ParameterGroup> parameter_groups() override;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override;
  void after_step(int64_t step, OptimizerState& optimizer) override;
  void restore_tensors(const std::map<std::string, at::Tensor>& stored,
                       OptimizerState& optimizer) override;
  std::vector<std::string> export_formats() const override { return {"ply", "obj", "mesh_ply"}; }
  void export_file(const std::filesystem::path& path, const std::string& format) override;

  /// The raw tensors (detached), sh joined to [N, K, 3].
  GaussianTensors tensors() const;
  /// A mesh of the opacity-weighted density sum_i o_i exp(-d^2 / 2) on a resolution^3 grid
  /// over the Gaussians' bounds, at options.mesh_iso, coloured by the kernel-weighted rgb.
  Mesh extract_mesh() const;
  /// Inside where that density reaches options.mesh_iso: the solid extract_mesh() bounds.
  at::Tensor inside(const at::Tensor& points) const override;
  int64_t size() const { return params_.size(); }
  int64_t active_sh_degree() const { return active_degree_; }
  const GaussiansOptions& options() const { return options_; }
  DensificationStrategy& strategy() { return strategy_; }
  GaussianParameters& parameters() { return params_; }
  /// What the last refinement did.
  const DensifyReport& last_report() const { return last_report_; }

 private:
  void set_tensors(const GaussianTensors& t);
  GaussiansOptions options_;
  uint64_t seed_;
  GaussianParameters params_;
  DensificationStrategy strategy_;
  int64_t active_degree_ = 0;
  DensifyReport last_report_;
};

/// Scales [N] from the mean squared distance to the 3 nearest neighbours (simple-knn's rule,
/// floored at 1e-7 before the square root), for points [N, 3]. Brute force in chunks: O(N^2).
at::Tensor nearest_neighbour_scales(const at::Tensor& points);

}  // namespace sds
