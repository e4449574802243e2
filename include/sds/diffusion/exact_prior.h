#pragma once
// The exact prior: a diffusion prior whose data distribution is a mixture of narrow Gaussians
// around rendered views of known scenes, so its denoiser is computed in closed form (see
// docs/exact-prior.md). It conditions on text, view-dependent prompt suffixes and the camera. A
// concept family contributes the views of every member; a concept with width has components
// with low-rank plus isotropic covariance, still in closed form (Woodbury).

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "sds/core/json.h"
#include "sds/diffusion/ground_truth.h"
#include "sds/diffusion/prior.h"
#include "sds/diffusion/scene.h"

namespace sds {

/// Options of the exact prior; defaults follow docs/exact-prior.md.
struct ExactPriorOptions {
  double sigma = 0.01;  ///< s, the standard deviation of each mixture component (pixels in [-1, 1])
  /// "camera": component weights get a kernel on the camera angle (MVDream / Zero123-like);
  /// "text": the prompt alone selects components (Stable Diffusion-like);
  /// "multiview": the batch is groups of `views_per_group` images whose components are tuples of
  /// grid views 360 / N degrees apart, denoised jointly (MVDream);
  /// "reference": the concept and its pose are identified from a reference image, and each image
  /// is conditioned on its camera relative to the reference camera (Zero123 / Magic123).
  std::string conditioning = "camera";
  /// Views per multi-view group (MVDream's 4); 360 / N must be a multiple of the grid step.
  int64_t views_per_group = 4;
  /// "von_mises": log pi_k = kappa cos(angle); "window": components within `window_deg` only.
  std::string camera_kernel = "von_mises";
  double kappa = 1000.0;     ///< 10 degrees away weighs about e^-15
  double window_deg = 15.0;  ///< half-width of the hard window
  std::vector<double> grid_elevations_deg{0.0, 15.0, 30.0};
  double grid_azimuth_step_deg = 10.0;
  double radius = 3.0;
  double fovy_deg = 40.0;
  /// Sectors that view-dependent prompt suffixes select (see view_sector).
  ViewSectorThresholds view_sectors;
  GroundTruthOptions ground_truth;
};

/// The components of one concept at one resolution on one device: K flattened images in
/// [-1, 1]. The images live on the device; what selects them (cameras, tuples) on the host.
struct ExactPriorComponents {
  at::Tensor mu;          ///< `[K, D]` float64 on the device, D = 3 H W
  at::Tensor mu_sq_norm;  ///< `[K]` float64 on the device
  at::Tensor directions;  ///< `[K, 3]` float64 (host), unit vectors towards each component's camera
  std::vector<Camera> cameras;
  std::vector<int64_t> concept_index;  ///< which concept each component renders
  std::vector<int64_t> member_index;   ///< which member of its concept's family (0 without one)
  int64_t base_count = 0;              ///< the grid components; personal components follow them
  /// Width within the modes (concepts with `width`), undefined when no concept has any: `[K, r,
  /// D]` float64 on the device, the rows b_j of each component's covariance s^2 I + B^T B (zero
  /// rows pad concepts with fewer directions, and personal components), with their Gram
  /// matrices B B^T `[K, r, r]` and B mu `[K, r]`.
  at::Tensor width, width_gram, width_mu;
  /// Multi-view conditioning only: `[T, N]` long (host), the components of each tuple's views,
  /// view j at the azimuth of view 0 plus j 360 / N degrees.
  at::Tensor tuples;
};

/// The closed-form mixture prior over the concepts of a scene. It is its own personalisable
/// form: personalisation adds components in closed form.
class ExactPrior : public PersonalisablePrior {
 public:
  ExactPrior(Scene scene, ExactPriorOptions options = {});
  /// JSON keys: as ExactPriorOptions, plus "scene" (a scene file; the built-in concepts if absent).
  static std::unique_ptr<Prior> from_config(ConfigReader& config, const BuildContext& context = {});

  const NoiseSchedule& schedule() const override { return schedule_; }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override;

  /// E[x0 | x_t] `[B, 3, H, W]`.
  at::Tensor posterior_mean(const at::Tensor& x_t, const at::Tensor& t,
                            const Conditioning& conditioning);
  /// log p_t(x_t) `[B]` by log-sum-exp over the components, differentiable in x_t (for tests of
  /// the score identity; the denoiser itself does not use it). Multi-view conditioning gives one
  /// joint value per group, `[B / N]`.
  at::Tensor log_density(const at::Tensor& x_t, const at::Tensor& t,
                         const Conditioning& conditioning);
  /// The responsibilities r_k of the components selected for batch element `b` `[K_b]` and
  /// their global indices into `components(H, W)`. Multi-view conditioning: the responsibilities
  /// of the tuples of b's group and, for each, the component that is b's view.
  std::pair<at::Tensor, at::Tensor> responsibilities(const at::Tensor& x_t, const at::Tensor& t,
                                                     const Conditioning& conditioning, int64_t b);

  /// Components of all concepts at resolution H x W on `device` (rendered on the host on first
  /// use, copied to the device once, then cached). The denoiser uses the device of x_t.
  const ExactPriorComponents& components(int64_t height, int64_t width,
                                         const at::Device& device = at::kCPU);
  /// Personalisation (DreamCraft3D's bootstrapping, the exact analogue of DreamBooth on the
  /// scene's renders): replaces the components added at the images' size by one component per
  /// image of `rgb` `[M, 3, H, W]` in [0, 1], a view of `prompt`'s concept from its camera, with
  /// the weight of a grid component. Not available with multi-view conditioning.
  void set_personal_components(const at::Tensor& rgb, const CameraBatch& cameras,
                               const std::string& prompt);
  /// `set_personal_components`.
  void set_images(const at::Tensor& rgb, const CameraBatch& cameras,
                  const std::string& prompt) override {
    set_personal_components(rgb, cameras, prompt);
  }
  /// A fresh copy with this scene and options and no personal components.
  std::shared_ptr<PersonalisablePrior> make_personalised(
      const PersonalisationOptions& options) override;
  /// With "reference" conditioning.
  bool conditions_on_reference() const override { return options_.conditioning == "reference"; }
  /// `ground_truth`.
  std::optional<GroundTruthImages> known_views(const std::string& prompt,
                                               const CameraBatch& cameras) const override {
    return ground_truth(prompt, cameras);
  }
  /// Removes the personal components at every image size.
  void clear_personal_components();
  /// The number of components added at an image size.
  int64_t personal_count(int64_t height, int64_t width);

  /// The exact renders of the concept named by `prompt` (a view suffix is ignored); for a family,
  /// of its member `member` (Concept::members()).
  GroundTruthImages ground_truth(const std::string& prompt, const CameraBatch& cameras,
                                 int64_t member = 0) const;

  const Scene& scene() const { return scene_; }
  const ExactPriorOptions& options() const { return options_; }

  /// The concept index and view sector a prompt selects: -1 for the null prompt; the sector is
  /// "" when the prompt has no view suffix. An unknown prompt is an sds::Error listing the known.
  std::pair<int64_t, std::string> parse_prompt(const std::string& prompt) const;

 private:
  friend struct ExactPriorMath;  // the closed-form helpers, src/diffusion/exact_prior_math.h

  Scene scene_;
  ExactPriorOptions options_;
  NoiseSchedule schedule_;
  /// (height, width, device) -> components; a device's entry is a copy of the host's.
  std::map<std::tuple<int64_t, int64_t, std::string>, ExactPriorComponents> cache_;
  std::mutex cache_mutex_;
  /// The component nearest to the last reference image (reference conditioning), so that it is
  /// found (and read back from the device) once per reference, not once per step.
  struct ReferenceMatch {
    const void* image = nullptr;
    int64_t version = -1, components = -1, nearest = -1;
  };
  mutable ReferenceMatch reference_match_;
  mutable std::mutex reference_mutex_;
};

}  // namespace sds
