#include "sds/train/generate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <chrono>

#include "sds/camera/sampler.h"
#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/train/experiment.h"

namespace sds {

namespace {

CameraBatch held_out_cameras(const ExactPrior& prior, const CameraSampler& sampler) {
  const auto& o = prior.options();
  return CameraBatch(held_out_views(o.radius, o.fovy_deg, sampler.height(), sampler.width()));
}

// `prior` null: a prior without ground truth; the turntable shows the prediction alone, from
// the exact prior's default orbit.
void write_turntable(Representation& repr, const ExactPrior* prior, const std::string& prompt,
                     int64_t member, const CameraSampler& sampler, const EvalOptions& eval,
                     const RenderOptions& render, const std::filesystem::path& dir) {
  const ExactPriorOptions o = prior ? prior->options() : ExactPriorOptions{};
  CameraBatch cams(turntable_views(eval.turntable_frames, eval.turntable_elevation_deg, o.radius,
                                   o.fovy_deg, sampler.height(), sampler.width()));
  at::Tensor pred = render_views(repr, cams, render).clamp(0, 1).cpu();
  const at::Tensor gt = prior ? prior->ground_truth(prompt, cams, member).rgb : at::Tensor();
  for (int64_t k = 0; k < cams.size(); ++k) {
    // Prediction on the left, ground truth on the right.
    write_png(dir / fmt::format("{:03d}.png", k),
              gt.defined() ? at::cat({pred[k], gt[k]}, 2) : pred[k]);
  }
}

}  // namespace

GenerateResult generate(const Json& config, const std::filesystem::path& run_dir,
                        const GenerateOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SDS_CHECK(!run_dir.empty(), "generate: expected a run folder (--out), got none");
  Experiment e = Experiment::from_config(config, run_dir);
  // Only the exact prior has ground truth to measure against; with another prior the run
  // trains, exports and renders its turntable without scores.
  auto* prior = dynamic_cast<ExactPrior*>(e.prior.get());
  SDS_CHECK(prior != nullptr || !options.require_ground_truth,
            "generate: this run is to be scored, but its prior has no ground truth (only the "
            "exact prior has)");
  write_file_atomic(run_dir / "config.json", e.config.dump(2) + "\n");

  // A family is scored against each of its variants (one ground truth per member).
  std::optional<CameraBatch> held_out;
  std::vector<at::Tensor> held_out_gt, progress_gt;
  std::vector<Camera> progress_views;
  const Concept* concept_ = prior ? &prior->scene().find(e.prompt) : nullptr;
  if (prior) {
    held_out = held_out_cameras(*prior, *e.sampler);
    progress_views.assign(held_out->cameras().begin(), held_out->cameras().begin() + e.eval.views);
    for (int64_t m = 0; m < concept_->member_count(); ++m) {
      held_out_gt.push_back(prior->ground_truth(e.prompt, *held_out, m).rgb);
      progress_gt.push_back(held_out_gt.back().slice(0, 0, e.eval.views));
    }
  }

  const std::vector<std::string> formats = e.representation->export_formats();
  for (const auto& f : options.exports) {
    SDS_CHECK(std::find(formats.begin(), formats.end(), f) != formats.end(),
              "--export: this representation writes [{}], not \"{}\"", fmt::join(formats, ", "), f);
  }
  Trainer trainer(e.representation, e.sampler, e.guidance, e.trainer);
  if (options.resume && std::filesystem::exists(trainer.checkpoint_path())) {
    trainer.load_checkpoint(trainer.checkpoint_path());
  }
  GenerateResult result;
  trainer.train([&](const StepInfo& info) {
    StepInfo shown = info;
    if (prior && e.eval.every > 0 &&
        (info.step % e.eval.every == 0 || info.step == info.total_steps)) {
      const at::Tensor rgb =
          render_views(*e.representation, CameraBatch(progress_views), e.trainer.render);
      const double psnr = score_family(rgb, progress_gt).nearest_scores.mean;
      shown.metrics["psnr"] = psnr;
      result.progress.emplace_back(info.step, psnr);
    }
    if (options.on_step) options.on_step(shown);
  });

  result.run_dir = run_dir;
  result.steps = trainer.steps_done();
  if (prior) {
    result.measured = true;
    result.held_out_rgb = render_views(*e.representation, *held_out, e.trainer.render);
    FamilyScores family = score_family(result.held_out_rgb, held_out_gt);
    result.held_out = family.nearest_scores;
    result.geometry =
        geometry_scores(*e.representation, concept_->members()[static_cast<size_t>(family.nearest)]);
    if (result.geometry) result.geometry_iou = result.geometry->iou;
    if (concept_->member_count() > 1) result.family = std::move(family);
  }
  if (options.write_turntable) {
    write_turntable(*e.representation, prior, e.prompt, result.family ? result.family->nearest : 0,
                    *e.sampler, e.eval, e.trainer.render, run_dir / "turntable");
  }
  for (const auto& f : options.exports) {
    const std::filesystem::path path = run_dir / "export" /
                                       (f == "ply"   ? "gaussians.ply"
                                        : f == "obj" ? "mesh.obj"
                                                     : "mesh.ply");
    e.representation->export_file(path, f);
    result.exported.push_back(path);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  Json metrics;
  metrics["prompt"] = e.prompt;
  if (result.measured) {
    metrics["psnr_heldout_mean"] = result.held_out.mean;
    metrics["psnr_heldout_min"] = result.held_out.min;
    metrics["psnr_per_view"] = result.held_out.psnr_per_view;
  }
  if (result.geometry) {
    metrics["geometry_iou"] = result.geometry->iou;
    metrics["geometry_precision"] = result.geometry->precision;
    metrics["geometry_recall"] = result.geometry->recall;
  }
  if (result.family) {
    std::vector<std::string> names;
    for (int64_t m = 0; m < concept_->member_count(); ++m)
      names.push_back(concept_->member_name(m));
    metrics["variants"] = names;
    metrics["psnr_per_variant"] = result.family->variant_mean_db;
    metrics["nearest_variant"] = result.family->nearest;
    metrics["nearest_variant_name"] = names[static_cast<size_t>(result.family->nearest)];
    metrics["psnr_family_mean"] = result.family->family_mean_db;
  }
  metrics["steps"] = result.steps;
  metrics["seconds"] = result.seconds;
  metrics["seed"] = e.trainer.seed;
  Json progress = Json::array();
  for (const auto& [step, psnr] : result.progress) progress.push_back({step, psnr});
  metrics["progress_psnr"] = progress;
  write_file_atomic(run_dir / "metrics.json", metrics.dump(2) + "\n");
  return result;
}

}  // namespace sds
