#pragma once
// A NeRF for text-to-3D (threestudio's implicit-volume geometry with its NeRF volume renderer and
// diffuse point-light material): a multiresolution hash grid feeding two small MLPs (density
// and albedo), occupancy-grid ray marching into packed samples, visibility pruning, and
// DreamFusion's shading augmentation.

#include <array>
#include <memory>
#include <string>

#include "sds/core/json.h"
#include "sds/geometry/mesh.h"
#include "sds/ops/hash_grid.h"
#include "sds/repr/occupancy_grid.h"
#include "sds/repr/representation.h"

namespace sds {

/// Options of the NeRF; JSON keys are the field names ("grid" takes tiny-cuda-nn's HashGrid
/// names, "occupancy_grid" OccupancyGridOptions'). Defaults are threestudio's text-to-3D ones
/// (configs/dreamfusion-sd.yaml) unless a comment says otherwise.
struct NerfOptions {
  double radius = 1.0;  ///< the scene box [-radius, radius]^3 (threestudio: 2; our objects: 1)
  /// The encoding of (x + radius) / (2 radius): 16 levels of 2 features, 2^19 entries, 16 to
  /// 4096 vertices per axis.
  ops::HashGridOptions grid{16, 2, 19, 16, 1.447269237440378};
  int64_t mlp_neurons = 64;  ///< width of the density and albedo MLPs (bias-free, ReLU)
  int64_t mlp_hidden_layers = 1;
  /// sigma = activation(density MLP + bias(x)): "softplus", "exp", "trunc_exp" (exp whose
  /// gradient stops growing at 15), "shifted_softplus" (softplus(x - 1)), "shifted_exp".
  std::string density_activation = "softplus";
  /// "blob_magic3d": s (1 - |x| / std); "blob_dreamfusion": s exp(-|x|^2 / (2 std^2)); "none".
  std::string density_bias = "blob_magic3d";
  double density_blob_scale = 10.0;
  double density_blob_std = 0.5;
  /// "finite_difference" (forward differences of sigma, step finite_difference_eps, threestudio's
  /// class default), "analytic" (-grad sigma by autograd, differentiable through the hash
  /// grid's second derivatives) or "none" (no normals: albedo only, no orientation term).
  std::string normal_type = "finite_difference";
  double finite_difference_eps = 0.01;
  /// Step size sqrt(3) 2 radius / samples_per_ray (the box diagonal in this many steps).
  int64_t samples_per_ray = 512;
  bool grid_prune = true;  ///< march the occupancy grid (else every step inside the box)
  OccupancyGridOptions occupancy_grid;  ///< nerfacc's defaults (128^3; threestudio uses 32^3)
  double early_stop_eps = 1e-4;         ///< samples behind transmittance below this are dropped
  double alpha_threshold = 0.01;  ///< samples with opacity below min(this, mean occupancy) too
  /// "solid" (RenderOptions::background) or "mlp": 3 layers (9 -> 16 -> 16 -> 3, sigmoid) on
  /// the SH (degree 2, 9 terms) of the view direction, as threestudio's neural environment map.
  std::string background = "solid";
  // DreamFusion's shading augmentation during training (threestudio's diffuse material).
  int64_t ambient_only_steps = 1000;  ///< albedo only before this step (the configs: 2001)
  double albedo_prob = 0.25;          ///< then albedo with this probability (1 - diffuse_prob)
  double textureless_prob = 0.5;      ///< else textureless with this, else diffuse (Lambertian)
  double ambient = 0.1;               ///< light = ambient + diffuse max(0, <n, l>)
  double diffuse = 0.9;
  bool soft_shading = false;  ///< Magic3D: diffuse = u ~ U(0, 1), ambient = 1 - u per batch
  /// The light of a view: at distance U(light_distance) along normalize(camera position +
  /// N(0, light_position_perturb^2)) (threestudio's "dreamfusion" light sampling).
  std::array<double, 2> light_distance{0.8, 1.5};
  double light_position_perturb = 1.0;
  /// Shading of evaluation renders: "albedo" (the exact prior's images carry their light in the
  /// colour) or "diffuse" under a fixed light at eval_light.
  std::string eval_shading = "albedo";
  std::array<double, 3> eval_light{2.0, 2.0, 2.0};
  double grid_lr = 0.01;  ///< threestudio: geometry 0.01
  double mlp_lr = 0.01;
  double background_lr = 0.001;
  /// The solid (inside(), mesh export) is sigma >= isosurface_threshold (threestudio: 25).
  double isosurface_threshold = 25.0;
  /// JSON "isosurface_threshold": "auto": the level is instead the mean sigma over the points of
  /// a 64^3 lattice of the box where sigma > 1e-5 (threestudio's "auto", the Magic3D configs').
  bool isosurface_auto = false;
  /// JSON "isosurface_threshold": "occupancy": the level is instead the density at which one
  /// marching step's opacity 1 - exp(-sigma step_size()) reaches alpha_threshold, below which
  /// the renderer drops a sample as empty (needs alpha_threshold > 0; not with isosurface_auto).
  bool isosurface_occupancy = false;
  /// The lattice of mesh export (mesh_resolution^3 over the box), also where fill_cavities looks.
  int64_t mesh_resolution = 128;
  /// The solid also holds the cavities that its iso-surface encloses on the mesh lattice
  /// (fill_enclosed_cavities): no view reaches them, so their density is never trained.
  bool fill_cavities = false;
  /// The solid is trimmed to the visual hull of the NeRF's own silhouettes() at 0.5 seen
  /// from this many sphere_views at 3 radius with a 40 degree field of view (0: not trimmed).
  /// That removes what renders as background from every side, e.g. the half-transparent fringes
  /// a NeRF grows around thin parts to match anti-aliased images.
  int64_t silhouette_views = 0;
  int64_t silhouette_resolution = 128;  ///< pixels per side of each silhouette
};

/// The NeRF. Exports "obj" and "mesh_ply" (marching cubes of sigma at isosurface_level(),
/// vertex colours from the albedo). Renders rgb, alpha, depth (not divided by alpha), normal
/// (sum of w_i n_i; undefined without normals), z_variance and orientation (with normals).
class Nerf : public Representation {
 public:
  /// Checks the options (sds::Error names a bad one) and initialises with `seed`: the hash grid
  /// U(-1e-4, 1e-4), the MLPs as torch.nn.Linear (U(-1/sqrt(in), 1/sqrt(in))).
  Nerf(NerfOptions options, uint64_t seed);
  static std::unique_ptr<Representation> from_config(ConfigReader& config,
                                                     const BuildContext& context);

  RenderOutput render(const CameraBatch& cameras, const RenderOptions& options) override;
  void to(const at::Device& device) override;
  std::vector<ParameterGroup> parameter_groups() override;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override;
  /// Updates the occupancy grid before the steps that nerfacc updates it at.
  void after_step(int64_t step, OptimizerState& optimizer) override;
  void restore_tensors(const std::map<std::string, at::Tensor>& stored,
                       OptimizerState& optimizer) override;
  std::vector<std::string> export_formats() const override { return {"obj", "mesh_ply"}; }
  void export_file(const std::filesystem::path& path, const std::string& format) override;
  /// The solid: sigma >= isosurface_level(), or in a cavity that this level set encloses
  /// (fill_cavities), and inside the silhouettes' visual hull (silhouette_views > 0).
  at::Tensor inside(const at::Tensor& points) const override;
  /// The density level of the solid: isosurface_threshold, or its "auto" or "occupancy" value.
  double isosurface_level() const;
  /// Whether each pixel's ray reaches opacity `min_opacity` in (0, 1), 1 - exp(-sum sigma_i
  /// delta_i) over the deterministic samples of an evaluation render without visibility pruning
  /// (every step through the box while the occupancy grid has never been updated, which a
  /// render does first): `[B, H, W]` bool on the NeRF's device. From the density alone (no colour,
  /// no gradients), marched in chunks of rays and in rounds of samples that stop at the opacity, so
  /// that memory and work stay bounded. The silhouettes of the solid at 0.5.
  at::Tensor silhouettes(const CameraBatch& cameras, double min_opacity = 0.5) const;

  /// Density sigma `[N]` and albedo `[N, 3]` at world points `[N, 3]` (float32, on the NeRF's
  /// device); differentiable.
  std::pair<at::Tensor, at::Tensor> query(const at::Tensor& points) const;
  /// Density alone (the occupancy grid's and the normals' queries).
  at::Tensor density(const at::Tensor& points) const;
  /// Unit normals -grad sigma / |grad sigma| `[N, 3]` by options().normal_type ("none": an
  /// sds::Error), differentiable.
  at::Tensor normals(const at::Tensor& points, const at::Tensor& sigma) const;
  /// The surface of the solid (inside()) by marching cubes of sigma at isosurface_level() on the
  /// mesh_resolution^3 lattice of the box, enclosed cavities raised above the level and lattice
  /// points outside the visual hull set to 0; coloured by the albedo.
  Mesh extract_mesh() const;

  /// The marching step sqrt(3) 2 radius / samples_per_ray.
  double step_size() const;
  const NerfOptions& options() const { return options_; }
  const ops::HashGridLayout& grid_layout() const { return layout_; }
  const OccupancyGrid& occupancy_grid() const { return occupancy_; }

 private:
  at::Tensor encode(const at::Tensor& points) const;
  // The samples of rays (origins, unit directions [R, 3]; jitter [R] or undefined): through the
  // occupied cells once the occupancy grid has been updated, else every step through the box.
  ops::MarchedSamples march(const at::Tensor& origins, const at::Tensor& directions,
                            const at::Tensor& jitter) const;
  // The points of an n^3 lattice of the box [n^3, 3] (float32, on the NeRF's device), x-major.
  at::Tensor lattice_points(int64_t n) const;
  // sigma at the points of an n^3 lattice of the box, [n, n, n] on the CPU, without gradients.
  at::Tensor density_lattice(int64_t n) const;
  // sigma at world points [N, 3] in chunks, without gradients.
  at::Tensor density_no_grad(const at::Tensor& points) const;
  // Whether points [N, 3] lie in the visual hull of silhouette_views silhouettes ([N] bool).
  at::Tensor inside_silhouettes(const at::Tensor& points) const;
  // sigma from the density MLP's output [N] at world points [N, 3] (bias, activation).
  at::Tensor activated_density(const at::Tensor& raw, const at::Tensor& points) const;
  // nerfacc's update of the occupancy grid at `step`, with sigma times the step size.
  void update_occupancy(int64_t step);
  at::Tensor background_colour(const at::Tensor& directions, const RenderOptions& options) const;

  NerfOptions options_;
  uint64_t seed_;
  ops::HashGridLayout layout_;
  at::Tensor grid_;                      // [entries, F]
  std::vector<at::Tensor> density_mlp_;  // weights [out, in], bias-free
  std::vector<at::Tensor> albedo_mlp_;
  std::vector<at::Tensor> background_mlp_;
  OccupancyGrid occupancy_;
};

}  // namespace sds
