#pragma once
// Named factories: every replaceable part is built from JSON by name, `{"type": "sds", ...}`.

#include <fmt/ranges.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sds/core/json.h"

namespace sds {

template <class Base>
class Registry;

/// Adds the library's own implementations of `Base`; defined next to them, in their layer.
template <class Base>
void register_builtins(Registry<Base>& registry);

/// The factories of one interface. `Base::kInterfaceName` names the interface in messages;
/// `Base::BuildContext` carries what a part needs besides its JSON (a guidance gets its prior).
template <class Base>
class Registry {
 public:
  /// Builds an instance from the fields of its config object (other than "type"); the factory
  /// reads its keys through the ConfigReader, and unknown keys are rejected after it returns.
  using Context = typename Base::BuildContext;
  using Factory = std::function<std::unique_ptr<Base>(ConfigReader&, const Context&)>;

  /// The registry of `Base`, with the built-in implementations already added.
  static Registry& instance() {
    static Registry registry = [] {
      Registry r;
      register_builtins<Base>(r);
      return r;
    }();
    return registry;
  }

  /// Adds (or replaces) the factory for `name`; users register their own parts here.
  void add(const std::string& name, Factory factory) { factories_[name] = std::move(factory); }

  /// The registered names, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : factories_) out.push_back(name);
    return out;
  }

  /// Builds the part that `config["type"]` names. An unknown name lists the known ones.
  /// A bare string is shorthand for `{"type": string}`.
  std::unique_ptr<Base> create(const Json& config, const std::string& where,
                               const Context& context = {}) const {
    const Json object = config.is_string() ? Json{{"type", config}} : config;
    ConfigReader reader(object, where);
    const auto type = reader.template require<std::string>("type");
    auto it = factories_.find(type);
    SDS_CHECK(it != factories_.end(), "{}: unknown {} type \"{}\"; known types are: {}", where,
              Base::kInterfaceName, type, fmt::join(names(), ", "));
    auto part = it->second(reader, context);
    reader.finish();
    return part;
  }

 private:
  std::map<std::string, Factory> factories_;
};

/// Builds a `Base` from its JSON config by the registered name in `config["type"]`.
template <class Base>
std::unique_ptr<Base> make(const Json& config, const std::string& where = Base::kInterfaceName,
                           const typename Base::BuildContext& context = {}) {
  return Registry<Base>::instance().create(config, where, context);
}

}  // namespace sds
