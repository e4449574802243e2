// Conversions shared by the bindings, and the core layer: errors, JSON, seeds.
#include <ATen/CPUGeneratorImpl.h>

#include "bindings.h"

namespace sds::python {

Json to_json(const py::handle& value, const std::string& where) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance<py::int_>(value)) return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value)) return value.cast<double>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::dict>(value)) {
    Json out = Json::object();
    for (auto [k, v] : value.cast<py::dict>()) {
      SDS_CHECK(py::isinstance<py::str>(k), "{}: expected string keys, got {}", where,
                py::str(py::type::of(k)).cast<std::string>());
      const auto key = k.cast<std::string>();
      out[key] = to_json(v, where + "." + key);
    }
    return out;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    Json out = Json::array();
    size_t i = 0;
    for (auto v : value) out.push_back(to_json(v, fmt::format("{}[{}]", where, i++)));
    return out;
  }
  // numpy scalars and other numbers
  if (py::hasattr(value, "__float__") && !py::hasattr(value, "__len__")) {
    return value.attr("__float__")().cast<double>();
  }
  fail("{}: expected a JSON value (dict, list, str, number, bool or None), got {}", where,
       py::str(py::type::of(value)).cast<std::string>());
}

py::object from_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return py::none();
    case Json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case Json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case Json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case Json::value_t::number_float:
      return py::float_(j.get<double>());
    case Json::value_t::string:
      return py::str(j.get<std::string>());
    case Json::value_t::array: {
      py::list out;
      for (const auto& v : j) out.append(from_json(v));
      return out;
    }
    case Json::value_t::object: {
      py::dict out;
      for (const auto& [k, v] : j.items()) out[py::str(k)] = from_json(v);
      return out;
    }
    default:
      return py::none();
  }
}

Json part_config(const py::object& config, const py::kwargs& kwargs, const std::string& where,
                 const std::string& type) {
  Json out = config.is_none() ? Json::object() : to_json(config, where);
  if (out.is_string()) out = Json{{"type", out}};
  SDS_CHECK(out.is_object(), "{}: expected a dict of options or a registered name, got {}", where,
            out.type_name());
  for (auto [k, v] : kwargs) {
    const auto key = k.cast<std::string>();
    out[key] = to_json(v, where + "." + key);
  }
  if (!type.empty()) {
    SDS_CHECK(!out.contains("type") || out["type"] == type,
              "{}: this class builds type \"{}\", the config names \"{}\"", where, type,
              out["type"].dump());
    out["type"] = type;
  }
  return out;
}

at::Generator generator_or_default(const std::optional<at::Generator>& generator) {
  return generator ? *generator : at::detail::getDefaultCPUGenerator();
}

at::Device device_arg(const py::handle& device) {
  if (device.is_none()) return at::kCPU;
  if (py::isinstance<py::str>(device)) return parse_device(device.cast<std::string>());
  const auto d = device.cast<at::Device>();
  check_device_usable(d);
  return d;
}

Metrics metrics_arg(const py::handle& metrics) {
  Metrics out;
  if (metrics.is_none()) return out;
  const py::object tensor_type = py::module_::import("torch").attr("Tensor");
  for (auto [key, value] : metrics.cast<py::dict>()) {
    const auto name = key.cast<std::string>();
    if (py::isinstance(value, tensor_type)) {
      out[name] = value.cast<at::Tensor>().detach();
    } else {
      out[name] = at::scalar_tensor(value.cast<double>(), at::kDouble);
    }
  }
  return out;
}

void bind_core(py::module_& m) {
  m.def("built_with_cuda", &built_with_cuda, DOC_built_with_cuda);
  m.def("set_debug_checks", &set_debug_checks, py::arg("on"), DOC_set_debug_checks);
  m.def("debug_checks", &debug_checks, DOC_debug_checks);
  m.def("step_generator", &step_generator, py::arg("seed"), py::arg("step"), DOC_step_generator);
  m.def(
      "step_device_generator",
      [](uint64_t seed, int64_t step, const py::object& device,
         const std::optional<at::Generator>& host) {
        const at::Device d = device_arg(device);
        return step_device_generator(seed, step, d, host ? *host : step_generator(seed, step));
      },
      py::arg("seed"), py::arg("step"), py::arg("device"), py::arg("host") = py::none(),
      ("`host` defaults to step_generator(seed, step).\n\n" +
       std::string(DOC_step_device_generator))
          .c_str());
  m.def(
      "parse_config",
      [](const std::string& text, const std::string& source) {
        return from_json(parse_json(text, source));
      },
      py::arg("text"), py::arg("source") = "config", DOC_parse_json);
  m.def(
      "read_config",
      [](const std::filesystem::path& path) { return from_json(read_json_file(path)); },
      py::arg("path"), DOC_read_json_file);
}

}  // namespace sds::python
