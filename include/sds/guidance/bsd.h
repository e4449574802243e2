#pragma once
// Bootstrapped score distillation (BSD, DreamCraft3D, arXiv 2310.16818): VSD whose pretrained
// score is a prior personalised on augmented renders of the current scene, re-fitted on a cycle.

#include <deque>
#include <memory>

#include "sds/diffusion/prior.h"
#include "sds/guidance/vsd.h"

namespace sds {

/// Options of BSD; JSON keys are the field names, plus VSD's. Defaults are DreamCraft3D's
/// texture stage (dreamcraft3d-texture.yaml): the first 200 of every 1000 steps only personalise,
/// one augmentation every 25 steps, a cache of 10 images, SDEdit from t = 500 annealed to 200.
struct BsdOptions {
  int64_t cycle_steps = 1000;
  int64_t pretrain_steps = 200;  ///< the first steps of each cycle: personalise, no 3D update
  int64_t augment_every = 25;
  int64_t cache_size = 10;  ///< FIFO of augmented renders
  ScalarSchedule augment_t{500.0, 200.0, 0.0, -1.0};  ///< SDEdit's r_t', over the run
  int64_t augment_steps = 12;  ///< deterministic DDIM steps of SDEdit (25 t / 1000 at t = 500)
  double augment_guidance_scale = 7.5;
  /// The personalised prior (`Prior::make_personalised`); "personal" in JSON.
  PersonalisationOptions personal;
  /// A personalised prior fitted by training (Stable Diffusion's DreamBooth-LoRA) is trained in
  /// the personalisation steps by the diffusion loss ||eps_personal(z_t; y_view, t) - eps||^2 on
  /// cached images, t ~ U[0, 1000), with this weight (DreamCraft3D's lambda_pretrain relative to
  /// its lambda_sd) and learning rate, the prompt dropped to "" with this probability.
  double personal_loss_weight = 1.0;
  double personal_lr = 1e-4;
  double personal_prompt_dropout = 0.1;
};

/// BSD: g = w(t) (eps_cfg^personal(z_t; y, t) - eps_phi(z_t; y, t, c)). The personalised prior
/// is the prior's `make_personalised` copy, fitted to a FIFO cache of augmented renders (SDEdit
/// of the current render through the original prior, at its camera): on the exact prior one
/// component per cached image, in closed form (the exact analogue of DreamBooth); on a trained
/// prior (Stable Diffusion) DreamBooth-LoRA steps on the cache. eps_phi sits on the original
/// prior, as in VSD. During the personalisation steps of a cycle the representation gets no
/// gradient.
class Bsd : public Vsd {
 public:
  /// `prior` must offer a personalised copy (`Prior::make_personalised`); an sds::Error says so
  /// otherwise.
  Bsd(std::shared_ptr<Prior> prior, std::string prompt, BsdOptions options, VsdOptions vsd,
      std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
      DistillationOptions common = {});
  /// Default VSD scale 2 (DreamCraft3D's), t in [50, 500 -> 200].
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  GuidanceOutput compute(const GuidanceInput& input) override;

  /// SDEdit of encoded renders z `[B, 3, h, w]` from timestep `from` through the original prior,
  /// decoded to rgb in [0, 1].
  at::Tensor augment(const at::Tensor& z, const CameraBatch& cameras, int64_t from,
                     at::Generator& generator);
  /// Pushes images with their cameras to the cache and hands the cache to the personalised prior.
  void personalise(const at::Tensor& rgb, const CameraBatch& cameras);
  /// The DreamBooth loss of the personalised prior on `batch` images drawn from the cache
  /// (differentiable w.r.t. its trainable parameters); undefined for a prior fitted in closed
  /// form.
  at::Tensor personal_loss(int64_t batch, at::Generator& generator,
                           at::Generator& device_generator);

  std::vector<ParameterGroup> parameter_groups() override;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override;

  /// The personalised prior (also `prior()`: the pretrained pass of the BSD gradient).
  PersonalisablePrior& personalised() { return *personal_; }
  int64_t cached() const { return static_cast<int64_t>(cache_.size()); }
  /// The cached augmented renders `[N, 3, H, W]`, oldest first; undefined while empty.
  at::Tensor cached_images() const;

 private:
  std::shared_ptr<Prior> base_;
  std::shared_ptr<PersonalisablePrior> personal_;
  BsdOptions bsd_;
  std::deque<std::pair<at::Tensor, Camera>> cache_;
};

}  // namespace sds
