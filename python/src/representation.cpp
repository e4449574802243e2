// 3D representations: the interface (subclassable in Python), the voxel grid, the Gaussians.
#include "bindings.h"

namespace sds::python {

namespace {

// A representation written in Python (any torch code), for sds.Trainer.
class PyRepresentation : public Representation, public py::trampoline_self_life_support {
 public:
  RenderOutput render(const CameraBatch& cameras, const RenderOptions& options) override {
    PYBIND11_OVERRIDE_PURE(RenderOutput, Representation, render, cameras, options);
  }
  std::vector<ParameterGroup> parameter_groups() override {
    PYBIND11_OVERRIDE_PURE(std::vector<ParameterGroup>, Representation, parameter_groups);
  }
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override {
    using Named = std::vector<std::pair<std::string, at::Tensor>>;
    PYBIND11_OVERRIDE_PURE(Named, Representation, named_tensors);
  }
  void to(const at::Device& device) override {
    PYBIND11_OVERRIDE(void, Representation, to, device);
  }
};

RenderOptions render_options(const std::array<double, 3>& background) {
  RenderOptions o;
  o.background = background;
  return o;
}

py::dict tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  py::dict out;
  for (const auto& [k, v] : named) out[py::str(k)] = v;
  return out;
}

}  // namespace

void bind_representation(py::module_& m) {
  py::classh<RenderOptions>(m, "RenderOptions", DOC_RenderOptions)
      .def(py::init(&render_options), py::arg("background") = std::array<double, 3>{1, 1, 1})
      .def_readwrite("background", &RenderOptions::background, DOC_RenderOptions_background)
      .def_readwrite("step", &RenderOptions::step, DOC_RenderOptions_step)
      .def_readwrite("generator", &RenderOptions::generator, DOC_RenderOptions_generator);
  py::classh<RenderOutput>(m, "RenderOutput", DOC_RenderOutput)
      .def(py::init([](at::Tensor rgb, at::Tensor alpha, std::optional<at::Tensor> depth,
                       std::optional<at::Tensor> normal) {
             return RenderOutput{rgb, alpha, depth.value_or(at::Tensor()),
                                 normal.value_or(at::Tensor())};
           }),
           py::arg("rgb"), py::arg("alpha"), py::arg("depth") = py::none(),
           py::arg("normal") = py::none())
      .def_readwrite("rgb", &RenderOutput::rgb)
      .def_readwrite("alpha", &RenderOutput::alpha)
      .def_readwrite("depth", &RenderOutput::depth)
      .def_readwrite("normal", &RenderOutput::normal)
      .def_readwrite("z_variance", &RenderOutput::z_variance)
      .def_readwrite("orientation", &RenderOutput::orientation);
  py::classh<Mesh>(m, "Mesh", DOC_Mesh)
      .def_readonly("vertices", &Mesh::vertices, DOC_Mesh_vertices)
      .def_readonly("faces", &Mesh::faces, DOC_Mesh_faces)
      .def_readonly("colors", &Mesh::colors, DOC_Mesh_colors)
      .def(
          "write_obj", [](const Mesh& mesh, const std::filesystem::path& p) { write_obj(p, mesh); },
          py::arg("path"), DOC_write_obj)
      .def(
          "write_ply",
          [](const Mesh& mesh, const std::filesystem::path& p) { write_mesh_ply(p, mesh); },
          py::arg("path"), DOC_write_mesh_ply);

  py::classh<Representation, PyRepresentation>(m, "Representation", DOC_Representation)
      .def(py::init<>())
      .def(
          "render",
          [](Representation& r, const CameraBatch& cameras, const std::array<double, 3>& bg) {
            py::gil_scoped_release release;
            return r.render(cameras, render_options(bg));
          },
          py::arg("cameras"), py::arg("background") = std::array<double, 3>{1, 1, 1},
          DOC_Representation_render)
      .def(
          "render",
          [](Representation& r, const CameraBatch& cameras, const RenderOptions& options) {
            py::gil_scoped_release release;
            return r.render(cameras, options);
          },
          py::arg("cameras"), py::arg("options"),
          "With every render option (the training step and generator of augmentation).")
      .def("parameter_groups", &Representation::parameter_groups,
           DOC_Representation_parameter_groups)
      .def_property_readonly("device", &Representation::device, DOC_Representation_device)
      .def(
          "to", [](Representation& r, const py::object& device) { r.to(device_arg(device)); },
          py::arg("device"), DOC_Representation_to)
      .def(
          "named_tensors", [](Representation& r) { return tensor_dict(r.named_tensors()); },
          DOC_Representation_named_tensors)
      .def(
          "parameters",
          [](Representation& r) {
            std::vector<at::Tensor> out;
            for (const auto& g : r.parameter_groups()) {
              out.insert(out.end(), g.parameters.begin(), g.parameters.end());
            }
            return out;
          },
          "Every trainable tensor (of every parameter group), for a torch optimiser.")
      .def("export_formats", &Representation::export_formats, DOC_Representation_export_formats)
      .def("export_file", &Representation::export_file, py::arg("path"), py::arg("format"),
           py::call_guard<py::gil_scoped_release>(), DOC_Representation_export_file)
      .def("inside", &Representation::inside, py::arg("points"),
           py::call_guard<py::gil_scoped_release>(), DOC_Representation_inside);

  py::classh<VoxelGrid, Representation>(m, "VoxelGrid", DOC_VoxelGrid)
      .def(py::init([](const py::object& config, const py::kwargs& kwargs) {
             return make_as<VoxelGrid, Representation>(
                 part_config(config, kwargs, "representation", "voxel_grid"), "representation");
           }),
           py::arg("config") = py::none(),
           ("Built from the keys of a config's \"representation\" (a dict and/or keyword "
            "arguments).\n\n" +
            std::string(DOC_VoxelGridOptions))
               .c_str())
      .def("query", &VoxelGrid::query, py::arg("points"), DOC_VoxelGrid_query);

  py::classh<OccupancyGrid>(m, "OccupancyGrid", DOC_OccupancyGrid)
      .def(py::init([](double bound, int64_t resolution, int64_t update_every, int64_t warmup_steps,
                       double ema_decay, double occ_threshold, const py::handle& device) {
             return OccupancyGrid(
                 {resolution, update_every, warmup_steps, ema_decay, occ_threshold}, bound,
                 device_arg(device));
           }),
           py::arg("bound") = 1.0, py::kw_only(), py::arg("resolution") = 128,
           py::arg("update_every") = 16, py::arg("warmup_steps") = 256, py::arg("ema_decay") = 0.95,
           py::arg("occ_threshold") = 0.01, py::arg("device") = py::none(),
           ("Keywords as OccupancyGridOptions.\n\n" + std::string(DOC_OccupancyGrid_OccupancyGrid))
               .c_str())
      .def("updates_at", &OccupancyGrid::updates_at, py::arg("step"), DOC_OccupancyGrid_updates_at)
      .def("update", &OccupancyGrid::update, py::arg("step"), py::arg("evaluate"),
           py::arg("generator"), DOC_OccupancyGrid_update)
      .def("reset", &OccupancyGrid::reset, py::arg("evaluate"), DOC_OccupancyGrid_reset)
      .def(
          "march",
          [](const OccupancyGrid& g, const at::Tensor& origins, const at::Tensor& directions,
             double step_size, const std::optional<at::Tensor>& jitter) {
            return g.march(origins, directions, step_size, jitter.value_or(at::Tensor()));
          },
          py::arg("origins"), py::arg("directions"), py::arg("step_size"),
          py::arg("jitter") = py::none(), py::call_guard<py::gil_scoped_release>(),
          DOC_OccupancyGrid_march)
      .def_property_readonly("occupancy", &OccupancyGrid::occupancy, DOC_OccupancyGrid_occupancy)
      .def_property_readonly("binary", &OccupancyGrid::binary, DOC_OccupancyGrid_binary)
      .def_property_readonly("threshold", &OccupancyGrid::threshold, DOC_OccupancyGrid_threshold)
      .def_property_readonly("updated", &OccupancyGrid::updated, DOC_OccupancyGrid_updated)
      .def("cell_centres", &OccupancyGrid::cell_centres, DOC_OccupancyGrid_cell_centres);

  py::classh<Nerf, Representation>(m, "Nerf", DOC_Nerf)
      .def(py::init([](const py::object& config, uint64_t seed, const py::kwargs& kwargs) {
             return make_as<Nerf, Representation>(
                 part_config(config, kwargs, "representation", "nerf"), "representation", {seed});
           }),
           py::arg("config") = py::none(), py::arg("seed") = 0,
           ("Built from the keys of a config's \"representation\" (a dict and/or keyword "
            "arguments) and a seed.\n\n" +
            std::string(DOC_NerfOptions))
               .c_str())
      .def("query", &Nerf::query, py::arg("points"), py::call_guard<py::gil_scoped_release>(),
           DOC_Nerf_query)
      .def("density", &Nerf::density, py::arg("points"), py::call_guard<py::gil_scoped_release>(),
           DOC_Nerf_density)
      .def("normals", &Nerf::normals, py::arg("points"), py::arg("sigma"),
           py::call_guard<py::gil_scoped_release>(), DOC_Nerf_normals)
      .def("extract_mesh", &Nerf::extract_mesh, py::call_guard<py::gil_scoped_release>(),
           DOC_Nerf_extract_mesh)
      .def("isosurface_level", &Nerf::isosurface_level, py::call_guard<py::gil_scoped_release>(),
           DOC_Nerf_isosurface_level)
      .def("silhouettes", &Nerf::silhouettes, py::arg("cameras"), py::arg("min_opacity") = 0.5,
           py::call_guard<py::gil_scoped_release>(), DOC_Nerf_silhouettes)
      .def_property_readonly("step_size", &Nerf::step_size, DOC_Nerf_step_size)
      .def_property_readonly(
          "grid_layout", [](const Nerf& n) { return n.grid_layout(); }, "The hash grid's layout.")
      .def_property_readonly(
          "occupancy_grid",
          [](const Nerf& n) -> const OccupancyGrid& { return n.occupancy_grid(); },
          py::return_value_policy::reference_internal, "The occupancy grid it marches.");

  py::classh<Gaussians, Representation>(m, "Gaussians", DOC_Gaussians)
      .def(py::init([](const py::object& config, uint64_t seed, const py::kwargs& kwargs) {
             return make_as<Gaussians, Representation>(
                 part_config(config, kwargs, "representation", "gaussians"), "representation",
                 {seed});
           }),
           py::arg("config") = py::none(), py::arg("seed") = 0,
           ("Built from the keys of a config's \"representation\" (a dict and/or keyword "
            "arguments) and a seed.\n\n" +
            std::string(DOC_GaussiansOptions))
               .c_str())
      .def_property_readonly("size", &Gaussians::size)
      .def_property_readonly("active_sh_degree", &Gaussians::active_sh_degree)
      .def(
          "tensors",
          [](const Gaussians& g) {
            GaussianTensors t = g.tensors();
            py::dict out;
            out["means"] = t.means;
            out["log_scales"] = t.log_scales;
            out["quats"] = t.quats;
            out["opacity_logits"] = t.opacity_logits;
            out["sh"] = t.sh;
            return out;
          },
          DOC_Gaussians_tensors)
      .def("extract_mesh", &Gaussians::extract_mesh, py::call_guard<py::gil_scoped_release>(),
           DOC_Gaussians_extract_mesh);

  m.def(
      "make_representation",
      [](const py::object& config, uint64_t seed, const py::object& device,
         const py::kwargs& kwargs) -> std::shared_ptr<Representation> {
        return make<Representation>(part_config(config, kwargs, "representation"), "representation",
                                    Representation::BuildContext{seed, device_arg(device)});
      },
      py::arg("config") = py::none(), py::arg("seed") = 0, py::arg("device") = py::none(),
      "A representation from its config (\"type\": voxel_grid, gaussians).");
  m.def("psnr", &psnr, py::arg("prediction"), py::arg("target"), DOC_psnr);
}

}  // namespace sds::python
