// The trainer, the main job (`sds generate`), evaluation and metrics.
#include "bindings.h"

namespace sds::python {

namespace {

py::dict step_info(const StepInfo& info) {
  py::dict out;
  out["step"] = info.step;
  out["total_steps"] = info.total_steps;
  out["logged"] = info.logged;
  out["loss"] = info.loss;
  out["metrics"] = info.metrics;
  return out;
}

TrainerOptions trainer_options(const py::object& config, const py::kwargs& kwargs) {
  Json j = part_config(config, kwargs, "trainer");
  TrainerOptions o;
  ConfigReader c(j, "trainer");
  o.steps = c.get("steps", o.steps);
  o.seed = c.get("seed", o.seed);
  o.run_dir = c.get<std::string>("run_dir", "");
  o = TrainerOptions::from_config(c, o);
  c.finish();
  return o;
}

Json experiment_config(const py::object& config) {
  if (py::isinstance<py::str>(config) || py::hasattr(config, "__fspath__")) {
    return read_json_file(py::str(config).cast<std::string>());
  }
  return to_json(config, "config");
}

py::dict view_scores(const ViewScores& s) {
  py::dict out;
  out["mean"] = s.mean;
  out["min"] = s.min;
  out["per_view"] = s.psnr_per_view;
  return out;
}

// Member `member` of the prior's concept `prompt` (a plain concept is its own member 0).
Concept concept_member(const ExactPrior& prior, const std::string& prompt, int64_t member,
                       const char* what) {
  const Concept& c = prior.scene().find(prompt);
  SDS_CHECK(member >= 0 && member < c.member_count(),
            "{}: \"{}\" has {} member(s); expected a member in [0, {}), got {}", what, prompt,
            c.member_count(), c.member_count(), member);
  return c.members()[static_cast<size_t>(member)];
}

}  // namespace

void bind_train(py::module_& m) {
  m.def(
      "guidance_step",
      [](Guidance& guidance, const at::Tensor& rgb, const CameraBatch& cameras, int64_t step,
         int64_t total_steps, const std::optional<at::Generator>& generator,
         const py::object& render, const std::optional<at::Generator>& device_generator) {
        RenderFunction fn;
        if (!render.is_none()) {
          fn = [render](const CameraBatch& c) {
            py::gil_scoped_acquire gil;
            py::object out = render(c);
            if (py::isinstance<RenderOutput>(out)) return out.cast<RenderOutput>();
            RenderOutput r;
            auto d = out.cast<py::dict>();
            r.rgb = d["rgb"].cast<at::Tensor>();
            r.alpha = d["alpha"].cast<at::Tensor>();
            if (d.contains("depth") && !d["depth"].is_none())
              r.depth = d["depth"].cast<at::Tensor>();
            return r;
          };
        }
        GuidanceInput input{rgb,
                            cameras,
                            step,
                            total_steps,
                            generator_or_default(generator),
                            device_generator.value_or(at::Generator())};
        py::gil_scoped_release release;
        return guidance_step(guidance, input, fn);
      },
      py::arg("guidance"), py::arg("rgb"), py::arg("cameras"), py::arg("step"),
      py::arg("total_steps"), py::arg("generator") = py::none(), py::arg("render") = py::none(),
      py::arg("device_generator") = py::none(),
      ("`render(cameras)` returns an sds.RenderOutput or a dict with rgb, alpha (and depth).\n\n" +
       std::string(DOC_guidance_step))
          .c_str());
  py::classh<TrainingGroups>(m, "TrainingGroups", DOC_TrainingGroups)
      .def(py::init<std::vector<ParameterGroup>, std::vector<ParameterGroup>>(),
           py::arg("representation"), py::arg("guidance") = std::vector<ParameterGroup>{},
           DOC_TrainingGroups_TrainingGroups)
      .def(py::init([](Representation& r, Guidance& g) { return TrainingGroups(r, g); }),
           py::arg("representation"), py::arg("guidance"))
      .def_property_readonly("groups", &TrainingGroups::groups, DOC_TrainingGroups_groups)
      .def_property_readonly("representation_groups", &TrainingGroups::representation_groups,
                             DOC_TrainingGroups_representation_groups)
      .def("learning_rates", &TrainingGroups::learning_rates, py::arg("step"),
           py::arg("lr_scale") = 1.0, DOC_TrainingGroups_learning_rates);
  py::classh<Trainer>(m, "Trainer", DOC_Trainer)
      .def(py::init([](std::shared_ptr<Representation> representation,
                       std::shared_ptr<CameraSampler> sampler, std::shared_ptr<Guidance> guidance,
                       const py::object& options, const py::kwargs& kwargs) {
             return std::make_shared<Trainer>(std::move(representation), std::move(sampler),
                                              std::move(guidance),
                                              trainer_options(options, kwargs));
           }),
           py::arg("representation"), py::arg("sampler"), py::arg("guidance"),
           py::arg("options") = py::none(),
           ("`options` (a dict and/or keyword arguments): steps, seed, run_dir and the keys of a "
            "config's \"trainer\".\n\n" +
            std::string(DOC_TrainerOptions))
               .c_str())
      .def(
          "step",
          [](Trainer& t) {
            StepInfo info;
            {
              py::gil_scoped_release release;
              info = t.step();
            }
            return step_info(info);
          },
          ("A dict of step, total_steps, loss and metrics.\n\n" + std::string(DOC_Trainer_step))
              .c_str())
      .def_property_readonly("steps_done", &Trainer::steps_done, DOC_Trainer_steps_done)
      .def_property_readonly("total_steps", [](const Trainer& t) { return t.options().steps; })
      .def_property_readonly("seed", [](const Trainer& t) { return t.options().seed; })
      .def_property_readonly("representation", &Trainer::representation,
                             py::return_value_policy::reference_internal)
      .def("save_checkpoint", &Trainer::save_checkpoint, py::arg("path"),
           py::call_guard<py::gil_scoped_release>(), DOC_Trainer_save_checkpoint)
      .def("load_checkpoint", &Trainer::load_checkpoint, py::arg("path"),
           py::call_guard<py::gil_scoped_release>(), DOC_Trainer_load_checkpoint);

  m.def(
      "_generate",
      [](const py::object& config, const std::filesystem::path& out_dir, bool resume,
         std::vector<std::string> exports, bool turntable, const py::object& on_step) {
        GenerateOptions o;
        o.resume = resume;
        o.exports = std::move(exports);
        o.write_turntable = turntable;
        if (!on_step.is_none()) {
          o.on_step = [on_step](const StepInfo& info) {
            py::gil_scoped_acquire gil;
            on_step(step_info(info));
          };
        }
        const Json j = experiment_config(config);
        GenerateResult r;
        {
          py::gil_scoped_release release;
          r = generate(j, out_dir, o);
        }
        py::dict out;
        out["run_dir"] = r.run_dir;
        out["held_out"] = r.measured ? view_scores(r.held_out) : py::object(py::none());
        out["geometry_iou"] = r.geometry_iou ? py::cast(*r.geometry_iou) : py::none();
        out["geometry_precision"] = r.geometry ? py::cast(r.geometry->precision) : py::none();
        out["geometry_recall"] = r.geometry ? py::cast(r.geometry->recall) : py::none();
        if (r.family) {
          py::dict family;
          family["variant_mean_db"] = r.family->variant_mean_db;
          family["nearest"] = r.family->nearest;
          family["family_mean_db"] = r.family->family_mean_db;
          out["family"] = family;
        } else {
          out["family"] = py::none();
        }
        out["held_out_rgb"] = r.measured ? py::cast(r.held_out_rgb) : py::none();
        out["progress"] = r.progress;
        out["steps"] = r.steps;
        out["seconds"] = r.seconds;
        out["exported"] = r.exported;
        return out;
      },
      py::arg("config"), py::arg("out_dir"), py::arg("resume"), py::arg("exports"),
      py::arg("turntable"), py::arg("on_step"));

  m.def(
      "_evaluate",
      [](std::vector<std::filesystem::path> configs, int64_t seeds,
         const std::filesystem::path& out, std::vector<std::string> concepts, double threshold_db,
         double coverage_db, bool small, const py::object& log) {
        EvaluationOptions o;
        o.configs = std::move(configs);
        o.seeds = seeds;
        o.out = out;
        o.concepts = std::move(concepts);
        o.threshold_db = threshold_db;
        o.coverage_db = coverage_db;
        o.small = small;
        if (!log.is_none()) {
          o.log = [log](const std::string& line) {
            py::gil_scoped_acquire gil;
            log(line);
          };
        }
        EvaluationTable table;
        {
          py::gil_scoped_release release;
          table = evaluate(o);
        }
        py::dict result = from_json(table.to_json());
        result["markdown"] = table.markdown();
        return result;
      },
      py::arg("configs"), py::arg("seeds"), py::arg("out"), py::arg("concepts"),
      py::arg("threshold_db"), py::arg("coverage_db"), py::arg("small"), py::arg("log"));

  py::classh<RegulariserWeights>(m, "RegulariserWeights", DOC_RegulariserWeights)
      .def(py::init([](const py::object& weights, const py::kwargs& kwargs) {
             Json j = part_config(weights, kwargs, "regularisers");
             ConfigReader reader(j, "regularisers");
             return RegulariserWeights::from_config(reader);
           }),
           py::arg("weights") = py::none(),
           ("From a dict and/or keyword arguments (numbers or schedules).\n\n" +
            std::string(DOC_RegulariserWeights_from_config))
               .c_str())
      .def("any", &RegulariserWeights::any, DOC_RegulariserWeights_any);
  m.def("regularisation", &regularisation, py::arg("weights"), py::arg("render"), py::arg("step"),
        py::arg("total_steps"), py::call_guard<py::gil_scoped_release>(), DOC_regularisation);
  m.def(
      "score_views",
      [](Representation& r, const CameraBatch& cameras, const at::Tensor& target,
         const std::array<double, 3>& background) {
        ViewScores s;
        {
          py::gil_scoped_release release;
          RenderOptions o;
          o.background = background;
          s = score_views(r, cameras, target, o);
        }
        return view_scores(s);
      },
      py::arg("representation"), py::arg("cameras"), py::arg("target"),
      py::arg("background") = std::array<double, 3>{1, 1, 1},
      ("A dict of mean, min and per_view PSNR.\n\n" + std::string(DOC_score_views)).c_str());
  m.def(
      "geometry_iou",
      [](const Representation& r, const ExactPrior& prior, const std::string& prompt,
         int64_t resolution, int64_t member) {
        const Concept c = concept_member(prior, prompt, member, "geometry_iou");
        py::gil_scoped_release release;
        return geometry_iou(r, c, resolution);
      },
      py::arg("representation"), py::arg("prior"), py::arg("prompt"), py::arg("resolution") = 64,
      py::arg("member") = 0, DOC_geometry_iou);
  m.def(
      "concept_occupancy",
      [](const ExactPrior& prior, const std::string& prompt, const at::Tensor& points, double cell,
         int64_t samples, int64_t member) {
        const Concept c = concept_member(prior, prompt, member, "concept_occupancy");
        py::gil_scoped_release release;
        return concept_occupancy(c, points, cell, samples);
      },
      py::arg("prior"), py::arg("prompt"), py::arg("points"), py::arg("cell") = 0.0,
      py::arg("samples") = 2, py::arg("member") = 0,
      ("The ground-truth occupancy of the prior's concept `prompt` (a family's `member`).\n\n" +
       std::string(DOC_concept_occupancy))
          .c_str());
  m.def(
      "score_family",
      [](const at::Tensor& prediction, const std::vector<at::Tensor>& variants) {
        FamilyScores f;
        {
          py::gil_scoped_release release;
          f = score_family(prediction, variants);
        }
        py::dict out;
        out["variant_mean_db"] = f.variant_mean_db;
        out["nearest"] = f.nearest;
        out["nearest_scores"] = view_scores(f.nearest_scores);
        out["family_mean_db"] = f.family_mean_db;
        return out;
      },
      py::arg("prediction"), py::arg("variants"),
      ("A dict of variant_mean_db, nearest, nearest_scores and family_mean_db.\n\n" +
       std::string(DOC_score_family))
          .c_str());
  m.def("variant_coverage", &variant_coverage, py::arg("nearest"), py::arg("nearest_db"),
        py::arg("threshold_db"), DOC_variant_coverage);
}

}  // namespace sds::python
