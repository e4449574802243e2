#include "sds/train/experiment.h"

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/diffusion/exact_prior.h"

namespace sds {

namespace {

// Whether two objects have the same primitives up to their colours.
bool same_geometry(const Concept& a, const Concept& b) {
  if (a.primitives.size() != b.primitives.size()) return false;
  for (size_t i = 0; i < a.primitives.size(); ++i) {
    const Primitive& p = a.primitives[i];
    const Primitive& q = b.primitives[i];
    if (p.shape != q.shape || p.center != q.center || p.radius != q.radius ||
        p.height != q.height || p.major_radius != q.major_radius ||
        p.minor_radius != q.minor_radius || p.radii != q.radii || p.size != q.size ||
        p.rotation_deg != q.rotation_deg) {
      return false;
    }
  }
  return true;
}

EvalOptions eval_options(ConfigReader& c) {
  EvalOptions o;
  o.every = c.get("every", o.every);
  o.views = c.get("views", o.views);
  o.turntable_frames = c.get("turntable_frames", o.turntable_frames);
  o.turntable_elevation_deg = c.get("turntable_elevation_deg", o.turntable_elevation_deg);
  SDS_CHECK(o.every >= 0 && o.views >= 1 && o.views <= 24 && o.turntable_frames >= 1,
            "eval: expected every >= 0, 1 <= views <= 24 and turntable_frames >= 1");
  return o;
}

}  // namespace

Experiment Experiment::from_config(const Json& config, const std::filesystem::path& run_dir) {
  Experiment e;
  e.config = config;
  ConfigReader c(config, "config");
  e.prompt = c.require<std::string>("prompt");
  e.trainer.seed = c.get<uint64_t>("seed", 0);
  e.trainer.steps = c.get<int64_t>("steps", 250);
  e.trainer.run_dir = run_dir;
  const Json empty = Json::object();
  // The trainer's options first: the guidance's and the representation's parameters are built
  // on its device.
  ConfigReader trainer(c.has("trainer") ? c.raw("trainer") : empty, "trainer");
  e.trainer = TrainerOptions::from_config(trainer, e.trainer);
  trainer.finish();
  const at::Device device = e.trainer.device;
  e.prior = make<Prior>(c.has("prior") ? c.raw("prior") : Json("exact"), "prior",
                        Prior::BuildContext{device});
  e.guidance = make<Guidance>(c.has("guidance") ? c.raw("guidance") : Json("sds"), "guidance",
                              Guidance::BuildContext{e.prior, e.prompt, device});
  e.representation =
      make<Representation>(c.has("representation") ? c.raw("representation") : Json("voxel_grid"),
                           "representation", Representation::BuildContext{e.trainer.seed, device});
  if (c.has("fixed_geometry")) {
    const auto source = c.get<std::string>("fixed_geometry", "");
    SDS_CHECK(source == "ground_truth",
              "config.fixed_geometry: expected \"ground_truth\" (the prompt's exact geometry), "
              "got \"{}\"",
              source);
    auto* exact = dynamic_cast<ExactPrior*>(e.prior.get());
    SDS_CHECK(exact != nullptr,
              "config.fixed_geometry: the ground-truth geometry needs the "
              "exact prior");
    const Concept& named = exact->scene().find(e.prompt);
    const std::vector<Concept> members = named.members();
    for (const Concept& m : members) {
      SDS_CHECK(same_geometry(m, members[0]),
                "config.fixed_geometry: \"{}\" is a family whose variants differ in geometry "
                "(\"{}\" and \"{}\"); a fixed geometry needs one shared by every variant",
                e.prompt, named.member_name(0), named.member_name(&m - members.data()));
    }
    const Concept concept_ = members[0];
    e.representation->fix_geometry([concept_](const at::Tensor& points, double cell) {
      return concept_occupancy(concept_, points, cell);
    });
  }
  e.sampler = make<CameraSampler>(c.has("camera_sampler") ? c.raw("camera_sampler") : Json("orbit"),
                                  "camera_sampler");
  ConfigReader eval(c.has("eval") ? c.raw("eval") : empty, "eval");
  e.eval = eval_options(eval);
  eval.finish();
  c.finish();
  return e;
}

}  // namespace sds
