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
      .def_readwrite("background", &RenderOptions::background, DOC_RenderOptions_background);
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
      .def_readwrite("normal", &RenderOutput::normal);
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
      .def("parameter_groups", &Representation::parameter_groups,
           DOC_Representation_parameter_groups)
      .def_property_readonly("device", &Representation::device, DOC_Representation_device)
      .def(
          "to",
          [](Representation& r, const py::object& device) { r.to(device_arg(device)); },
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
