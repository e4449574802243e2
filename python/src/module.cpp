#include "bindings.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "sds: score-distillation losses, diffusion priors and 3D representations (C++ core)";
  py::register_exception<sds::Error>(m, "Error", PyExc_RuntimeError);
  sds::python::bind_core(m);
  sds::python::bind_camera(m);
  sds::python::bind_prior(m);
  sds::python::bind_guidance(m);
  py::module_ ops = m.def_submodule("ops", "Differentiable fused ops (CPU and CUDA)");
  sds::python::bind_ops(ops);
  sds::python::bind_representation(m);
  sds::python::bind_train(m);
  py::module_ models = m.def_submodule(
      "models", "Native ports of diffusers / transformers models, loaded from their folders");
  sds::python::bind_models(models);
}
