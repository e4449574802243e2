#pragma once
// What every binding file of sds._C shares (also the precompiled header of the module).

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>
#include <torch/csrc/utils/pybind.h>  // at::Tensor, at::Generator, at::Device <-> torch objects

#include <optional>
#include <string>

#include "docstrings.h"
#include "sds/sds.h"

namespace py = pybind11;

namespace sds::python {

/// A Python value (dict, list, str, number, bool, None) as JSON; anything else is an sds::Error
/// naming `where`.
Json to_json(const py::handle& value, const std::string& where);
/// JSON as Python values.
py::object from_json(const Json& json);
/// The config object of a part: `config` (a dict, a registered name or None) updated with
/// `kwargs`, with "type" set to `type` when given.
Json part_config(const py::object& config, const py::kwargs& kwargs, const std::string& where,
                 const std::string& type = "");
/// The part `config` names, built through the registry of `Base`, as the class `T` that the
/// binding fixed the config's "type" to.
template <class T, class Base>
std::shared_ptr<T> make_as(const Json& config, const std::string& where,
                           const typename Base::BuildContext& context = {}) {
  auto typed =
      std::dynamic_pointer_cast<T>(std::shared_ptr<Base>(make<Base>(config, where, context)));
  SDS_CHECK(typed != nullptr, "{}: \"{}\" built another class than expected", where,
            config.value("type", ""));
  return typed;
}

/// `generator`, or torch's default CPU generator when None (torch's own convention).
at::Generator generator_or_default(const std::optional<at::Generator>& generator);

/// A device from "cpu", "cuda", "cuda:N" or a torch.device (None: the CPU); sds.Error when the
/// build or the machine cannot run there.
at::Device device_arg(const py::handle& device);

/// Metrics from a dict of floats or one-element tensors.
Metrics metrics_arg(const py::handle& metrics);

void bind_core(py::module_& m);
void bind_camera(py::module_& m);
void bind_prior(py::module_& m);
void bind_guidance(py::module_& m);
void bind_ops(py::module_& ops);
void bind_representation(py::module_& m);
void bind_train(py::module_& m);
void bind_models(py::module_& models);

}  // namespace sds::python
