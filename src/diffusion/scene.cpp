#include "sds/diffusion/scene.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

namespace sds {

namespace {

constexpr std::array<Shape, 6> kShapes{Shape::Sphere,   Shape::Ellipsoid, Shape::Box,
                                       Shape::Cylinder, Shape::Cone,      Shape::Torus};

// Points exactly on the cube's faces are inside; rounding in the bounds must not reject them.
constexpr double kCubeTolerance = 1e-9;

std::string vec_str(const std::array<double, 3>& v) {
  return fmt::format("[{}, {}, {}]", v[0], v[1], v[2]);
}

bool finite(const std::array<double, 3>& v) {
  return std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]);
}

// A 3-vector of numbers; nlohmann's std::array conversion would silently drop extra entries.
std::array<double, 3> read_vec3(ConfigReader& reader, const std::string& key,
                                const std::array<double, 3>* fallback) {
  const Json& value = reader.raw(key);
  if (value.is_null()) {
    SDS_CHECK(fallback != nullptr, "{}: missing required key \"{}\"", reader.where(), key);
    return *fallback;
  }
  SDS_CHECK(value.is_array() && value.size() == 3, "{}.{}: expected an array of 3 numbers, got {}",
            reader.where(), key, value.dump());
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    SDS_CHECK(value[i].is_number(), "{}.{}: expected an array of 3 numbers, got {}", reader.where(),
              key, value.dump());
    out[i] = value[i].get<double>();
  }
  return out;
}

std::array<double, 3> require_vec3(ConfigReader& reader, const std::string& key) {
  return read_vec3(reader, key, nullptr);
}

std::array<double, 3> get_vec3(ConfigReader& reader, const std::string& key,
                               const std::array<double, 3>& fallback) {
  return read_vec3(reader, key, &fallback);
}

Json vec_json(const std::array<double, 3>& v) { return Json::array({v[0], v[1], v[2]}); }

Primitive parse_primitive(const Json& json, const std::string& where) {
  SDS_CHECK(json.is_object(), "{}: expected a JSON object, got {}", where, json.type_name());
  SDS_CHECK(json.contains("shape") && json.at("shape").is_string(),
            "{}: missing required key \"shape\" (a string: one of sphere, ellipsoid, box, "
            "cylinder, cone, torus)",
            where);
  Primitive p;
  try {
    p.shape = parse_shape(json.at("shape").get<std::string>());
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  ConfigReader reader(json, fmt::format("{} ({})", where, shape_name(p.shape)));
  reader.has("shape");
  p.center = require_vec3(reader, "center");
  switch (p.shape) {
    case Shape::Sphere:
      p.radius = reader.require<double>("radius");
      break;
    case Shape::Ellipsoid:
      p.radii = require_vec3(reader, "radii");
      break;
    case Shape::Box:
      p.size = require_vec3(reader, "size");
      break;
    case Shape::Cylinder:
    case Shape::Cone:
      p.radius = reader.require<double>("radius");
      p.height = reader.require<double>("height");
      break;
    case Shape::Torus:
      p.major_radius = reader.require<double>("major_radius");
      p.minor_radius = reader.require<double>("minor_radius");
      break;
  }
  p.rotation_deg = get_vec3(reader, "rotation", p.rotation_deg);
  p.color = require_vec3(reader, "color");
  reader.finish();
  return p;
}

// One variant of a family: a full "primitives" list, or edits of the template `base` (the
// concept's raw primitives): "edit" overrides keys of template primitives by index, "remove"
// drops template primitives by index, "add" appends primitives.
Variant parse_variant(const Json& json, const Json& base, const std::string& where) {
  SDS_CHECK(json.is_object(), "{}: expected a JSON object, got {}", where, json.type_name());
  ConfigReader reader(json, where);
  Variant v;
  v.name = reader.require<std::string>("name");
  const Json& full = reader.raw("primitives");
  const Json& edit = reader.raw("edit");
  const Json& remove = reader.raw("remove");
  const Json& add = reader.raw("add");
  reader.finish();
  auto parse_list = [&](const Json& list, const std::string& key) {
    SDS_CHECK(list.is_array(), "{}.{}: expected an array, got {}", where, key, list.type_name());
    std::vector<Primitive> out;
    for (size_t j = 0; j < list.size(); ++j) {
      out.push_back(parse_primitive(list[j], fmt::format("{}.{}[{}]", where, key, j)));
    }
    return out;
  };
  if (!full.is_null()) {
    SDS_CHECK(edit.is_null() && remove.is_null() && add.is_null(),
              "{}: expected either \"primitives\" or edits of the template (\"edit\", "
              "\"remove\", \"add\"), got both",
              where);
    v.primitives = parse_list(full, "primitives");
    return v;
  }
  const auto n = static_cast<int64_t>(base.size());
  auto template_index = [&](const Json& value, const std::string& what) {
    SDS_CHECK(value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() < n,
              "{}: expected a template primitive index in [0, {}), got {}", what, n, value.dump());
    return value.get<int64_t>();
  };
  Json primitives = base;
  if (!edit.is_null()) {
    SDS_CHECK(edit.is_array(), "{}.edit: expected an array, got {}", where, edit.type_name());
    for (size_t j = 0; j < edit.size(); ++j) {
      const std::string w = fmt::format("{}.edit[{}]", where, j);
      SDS_CHECK(edit[j].is_object() && edit[j].contains("index"),
                "{}: expected an object with \"index\" and the keys it overrides, got {}", w,
                edit[j].dump());
      const int64_t i = template_index(edit[j].at("index"), w + ".index");
      for (const auto& [key, value] : edit[j].items()) {
        if (key != "index") primitives[i][key] = value;
      }
    }
  }
  std::vector<bool> removed(n, false);
  if (!remove.is_null()) {
    SDS_CHECK(remove.is_array(), "{}.remove: expected an array, got {}", where, remove.type_name());
    for (size_t j = 0; j < remove.size(); ++j) {
      removed[template_index(remove[j], fmt::format("{}.remove[{}]", where, j))] = true;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!removed[i]) {
      v.primitives.push_back(
          parse_primitive(primitives[i], fmt::format("{}.primitives[{}]", where, i)));
    }
  }
  if (!add.is_null()) {
    for (Primitive& p : parse_list(add, "add")) v.primitives.push_back(p);
  }
  return v;
}

void check_width_kind(const std::string& kind, const std::string& where) {
  SDS_CHECK(kind == "color" || kind == "brightness",
            "{}: expected kind \"color\" or \"brightness\", got \"{}\"", where, kind);
}

WidthDirection parse_width(const Json& json, const std::string& where) {
  SDS_CHECK(json.is_object(), "{}: expected a JSON object, got {}", where, json.type_name());
  ConfigReader reader(json, where);
  WidthDirection w;
  w.kind = reader.require<std::string>("kind");
  check_width_kind(w.kind, where);
  w.std = reader.require<double>("std");
  if (w.kind == "color") {
    w.direction = get_vec3(reader, "direction", w.direction);
    w.primitives = reader.get("primitives", w.primitives);
  }
  reader.finish();
  return w;
}

Concept parse_concept(const Json& json, const std::string& where) {
  SDS_CHECK(json.is_object(), "{}: expected a JSON object, got {}", where, json.type_name());
  ConfigReader reader(json, where);
  Concept c;
  c.prompt = reader.require<std::string>("prompt");
  c.background = get_vec3(reader, "background", c.background);
  const Json& primitives = reader.raw("primitives");
  SDS_CHECK(!primitives.is_null(), "{}: missing required key \"primitives\"", where);
  SDS_CHECK(primitives.is_array(), "{}.primitives: expected an array, got {}", where,
            primitives.type_name());
  for (size_t j = 0; j < primitives.size(); ++j) {
    c.primitives.push_back(
        parse_primitive(primitives[j], fmt::format("{}.primitives[{}]", where, j)));
  }
  if (const Json& variants = reader.raw("variants"); !variants.is_null()) {
    SDS_CHECK(variants.is_array() && !variants.empty(),
              "{}.variants: expected a non-empty array, got {}", where, variants.dump());
    for (size_t j = 0; j < variants.size(); ++j) {
      c.variants.push_back(
          parse_variant(variants[j], primitives, fmt::format("{}.variants[{}]", where, j)));
    }
  }
  if (const Json& width = reader.raw("width"); !width.is_null()) {
    SDS_CHECK(width.is_array(), "{}.width: expected an array, got {}", where, width.type_name());
    for (size_t j = 0; j < width.size(); ++j) {
      c.width.push_back(parse_width(width[j], fmt::format("{}.width[{}]", where, j)));
    }
  }
  reader.finish();
  return c;
}

void check_positive(double value, const char* name, const std::string& where) {
  SDS_CHECK(std::isfinite(value) && value > 0, "{}: expected {} > 0, got {}", where, name, value);
}

void check_positive(const std::array<double, 3>& value, const char* name,
                    const std::string& where) {
  SDS_CHECK(finite(value) && value[0] > 0 && value[1] > 0 && value[2] > 0,
            "{}: expected every entry of {} > 0, got {}", where, name, vec_str(value));
}

void check_color(const std::array<double, 3>& value, const char* name, const std::string& where) {
  for (double v : value) {
    SDS_CHECK(std::isfinite(v) && v >= 0 && v <= 1, "{}: expected {} in [0, 1], got {}", where,
              name, vec_str(value));
  }
}

}  // namespace

std::string shape_name(Shape shape) {
  switch (shape) {
    case Shape::Sphere:
      return "sphere";
    case Shape::Ellipsoid:
      return "ellipsoid";
    case Shape::Box:
      return "box";
    case Shape::Cylinder:
      return "cylinder";
    case Shape::Cone:
      return "cone";
    case Shape::Torus:
      return "torus";
  }
  fail("shape_name: invalid shape value {}", static_cast<int>(shape));
}

Shape parse_shape(const std::string& name) {
  std::vector<std::string> names;
  for (Shape s : kShapes) {
    if (shape_name(s) == name) return s;
    names.push_back(shape_name(s));
  }
  fail("unknown shape \"{}\"; valid shapes are: {}", name, fmt::join(names, ", "));
}

std::array<double, 9> rotation_matrix(const std::array<double, 3>& rotation_deg) {
  const double k = std::numbers::pi / 180.0;
  const double ca = std::cos(rotation_deg[0] * k), sa = std::sin(rotation_deg[0] * k);
  const double cb = std::cos(rotation_deg[1] * k), sb = std::sin(rotation_deg[1] * k);
  const double cg = std::cos(rotation_deg[2] * k), sg = std::sin(rotation_deg[2] * k);
  const std::array<double, 9> rx{1, 0, 0, 0, ca, -sa, 0, sa, ca};
  const std::array<double, 9> ry{cb, 0, sb, 0, 1, 0, -sb, 0, cb};
  const std::array<double, 9> rz{cg, -sg, 0, sg, cg, 0, 0, 0, 1};
  auto mul = [](const std::array<double, 9>& a, const std::array<double, 9>& b) {
    std::array<double, 9> m{};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        for (int l = 0; l < 3; ++l) m[i * 3 + j] += a[i * 3 + l] * b[l * 3 + j];
      }
    }
    return m;
  };
  return mul(rz, mul(ry, rx));
}

Primitive Primitive::sphere(std::array<double, 3> center, double radius,
                            std::array<double, 3> color) {
  Primitive p;
  p.shape = Shape::Sphere;
  p.center = center;
  p.radius = radius;
  p.color = color;
  return p;
}

Primitive Primitive::ellipsoid(std::array<double, 3> center, std::array<double, 3> radii,
                               std::array<double, 3> color) {
  Primitive p;
  p.shape = Shape::Ellipsoid;
  p.center = center;
  p.radii = radii;
  p.color = color;
  return p;
}

Primitive Primitive::box(std::array<double, 3> center, std::array<double, 3> size,
                         std::array<double, 3> color) {
  Primitive p;
  p.shape = Shape::Box;
  p.center = center;
  p.size = size;
  p.color = color;
  return p;
}

Primitive Primitive::cylinder(std::array<double, 3> center, double radius, double height,
                              std::array<double, 3> color) {
  Primitive p;
  p.shape = Shape::Cylinder;
  p.center = center;
  p.radius = radius;
  p.height = height;
  p.color = color;
  return p;
}

Primitive Primitive::cone(std::array<double, 3> center, double radius, double height,
                          std::array<double, 3> color) {
  Primitive p = cylinder(center, radius, height, color);
  p.shape = Shape::Cone;
  return p;
}

Primitive Primitive::torus(std::array<double, 3> center, double major_radius, double minor_radius,
                           std::array<double, 3> color) {
  Primitive p;
  p.shape = Shape::Torus;
  p.center = center;
  p.major_radius = major_radius;
  p.minor_radius = minor_radius;
  p.color = color;
  return p;
}

Primitive Primitive::rotated(std::array<double, 3> degrees) const {
  Primitive p = *this;
  p.rotation_deg = degrees;
  return p;
}

double Primitive::bounding_radius() const {
  switch (shape) {
    case Shape::Sphere:
      return radius;
    case Shape::Ellipsoid:
      return std::max({radii[0], radii[1], radii[2]});
    case Shape::Box:
      return 0.5 * std::sqrt(size[0] * size[0] + size[1] * size[1] + size[2] * size[2]);
    case Shape::Cylinder:
    case Shape::Cone:
      return std::sqrt(radius * radius + 0.25 * height * height);
    case Shape::Torus:
      return major_radius + minor_radius;
  }
  fail("bounding_radius: invalid shape value {}", static_cast<int>(shape));
}

std::array<std::array<double, 3>, 2> Primitive::bounds() const {
  const std::array<double, 9> r = rotation_matrix(rotation_deg);
  std::array<std::array<double, 3>, 2> out{center, center};
  for (int i = 0; i < 3; ++i) {
    // a_i: world component i of the local Z axis (the axis of cylinder, cone and torus).
    const double a = r[i * 3 + 2];
    const double across = std::sqrt(std::max(0.0, 1.0 - a * a));  // extent of a unit disc ⟂ axis
    double lo = 0, hi = 0;
    switch (shape) {
      case Shape::Sphere:
        lo = -radius, hi = radius;
        break;
      case Shape::Ellipsoid: {
        double e = 0;
        for (int j = 0; j < 3; ++j) e += std::pow(r[i * 3 + j] * radii[j], 2);
        hi = std::sqrt(e), lo = -hi;
        break;
      }
      case Shape::Box: {
        double e = 0;
        for (int j = 0; j < 3; ++j) e += std::abs(r[i * 3 + j]) * 0.5 * size[j];
        hi = e, lo = -e;
        break;
      }
      case Shape::Cylinder:
        hi = std::abs(a) * 0.5 * height + radius * across, lo = -hi;
        break;
      case Shape::Cone: {
        // The cone is the hull of its base disc (at -height/2 along the axis) and its apex.
        const double base = -a * 0.5 * height, apex = a * 0.5 * height;
        lo = std::min(base - radius * across, apex);
        hi = std::max(base + radius * across, apex);
        break;
      }
      case Shape::Torus:
        hi = major_radius * across + minor_radius, lo = -hi;
        break;
    }
    out[0][i] += lo;
    out[1][i] += hi;
  }
  return out;
}

namespace {

void validate_primitives(const std::vector<Primitive>& primitives, const std::string& where) {
  SDS_CHECK(!primitives.empty(), "{}: expected at least one primitive, got none", where);
  for (size_t j = 0; j < primitives.size(); ++j) {
    const Primitive& p = primitives[j];
    const std::string w = fmt::format("{}.primitives[{}] ({})", where, j, shape_name(p.shape));
    SDS_CHECK(finite(p.center), "{}: expected a finite center, got {}", w, vec_str(p.center));
    SDS_CHECK(finite(p.rotation_deg), "{}: expected a finite rotation, got {}", w,
              vec_str(p.rotation_deg));
    switch (p.shape) {
      case Shape::Sphere:
        check_positive(p.radius, "radius", w);
        break;
      case Shape::Ellipsoid:
        check_positive(p.radii, "radii", w);
        break;
      case Shape::Box:
        check_positive(p.size, "size", w);
        break;
      case Shape::Cylinder:
      case Shape::Cone:
        check_positive(p.radius, "radius", w);
        check_positive(p.height, "height", w);
        break;
      case Shape::Torus:
        check_positive(p.major_radius, "major_radius", w);
        check_positive(p.minor_radius, "minor_radius", w);
        // A self-intersecting (spindle) torus has no hole and an ill-defined normal at its axis.
        SDS_CHECK(p.minor_radius < p.major_radius,
                  "{}: expected minor_radius < major_radius, got minor_radius {} and "
                  "major_radius {}",
                  w, p.minor_radius, p.major_radius);
        break;
    }
    check_color(p.color, "color", w);
    const auto box = p.bounds();
    for (int i = 0; i < 3; ++i) {
      SDS_CHECK(box[0][i] >= -1 - kCubeTolerance && box[1][i] <= 1 + kCubeTolerance,
                "{}: expected the primitive inside the unit cube [-1, 1]^3, but its bounding "
                "box is {} to {}",
                w, vec_str(box[0]), vec_str(box[1]));
    }
  }
}

}  // namespace

void validate_concept(const Concept& c, const std::string& where) {
  SDS_CHECK(!c.prompt.empty(),
            "{}: expected a non-empty prompt (the empty prompt is the unconditional one)", where);
  check_color(c.background, "background", where);
  validate_primitives(c.primitives, where);
  std::set<std::string> names;
  for (size_t v = 0; v < c.variants.size(); ++v) {
    const std::string w = fmt::format("{}.variants[{}] (\"{}\")", where, v, c.variants[v].name);
    SDS_CHECK(!c.variants[v].name.empty(), "{}: expected a non-empty variant name", w);
    SDS_CHECK(names.insert(c.variants[v].name).second, "{}: duplicate variant name", w);
    validate_primitives(c.variants[v].primitives, w);
  }
  for (size_t j = 0; j < c.width.size(); ++j) {
    const WidthDirection& d = c.width[j];
    const std::string w = fmt::format("{}.width[{}] ({})", where, j, d.kind);
    check_width_kind(d.kind, where);
    check_positive(d.std, "std", w);
    SDS_CHECK(
        finite(d.direction) && (d.direction[0] != 0 || d.direction[1] != 0 || d.direction[2] != 0),
        "{}: expected a finite, non-zero direction, got {}", w, vec_str(d.direction));
    for (const Concept& m : c.members()) {
      for (int64_t i : d.primitives) {
        SDS_CHECK(i >= 0 && i < static_cast<int64_t>(m.primitives.size()),
                  "{}: expected primitive indices in [0, {}) (every member's primitives), got {}",
                  w, m.primitives.size(), i);
      }
    }
  }
}

std::vector<Concept> Concept::members() const {
  if (variants.empty()) return {*this};
  std::vector<Concept> out;
  for (const Variant& v : variants) {
    Concept m;
    m.prompt = prompt;
    m.background = background;
    m.primitives = v.primitives;
    m.width = width;
    out.push_back(std::move(m));
  }
  return out;
}

int64_t Concept::member_count() const {
  return variants.empty() ? 1 : static_cast<int64_t>(variants.size());
}

std::string Concept::member_name(int64_t index) const {
  SDS_CHECK(index >= 0 && index < member_count(),
            "concept \"{}\": expected a member index in [0, {}), got {}", prompt, member_count(),
            index);
  return variants.empty() ? std::string() : variants[index].name;
}

Scene Scene::from_json(const Json& json, const std::string& source) {
  SDS_CHECK(json.is_object(), "{}: expected a JSON object with \"concepts\", got {}", source,
            json.type_name());
  ConfigReader reader(json, source);
  const Json& concepts = reader.raw("concepts");
  SDS_CHECK(!concepts.is_null(), "{}: missing required key \"concepts\"", source);
  SDS_CHECK(concepts.is_array(), "{}.concepts: expected an array, got {}", source,
            concepts.type_name());
  reader.finish();
  Scene scene;
  for (size_t i = 0; i < concepts.size(); ++i) {
    std::string where = fmt::format("{}: concepts[{}]", source, i);
    const Json& c = concepts[i];
    if (c.is_object() && c.contains("prompt") && c.at("prompt").is_string()) {
      where += fmt::format(" (\"{}\")", c.at("prompt").get<std::string>());
    }
    scene.concepts.push_back(parse_concept(c, where));
  }
  scene.validate(source);
  return scene;
}

Scene Scene::load(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void Scene::validate(const std::string& source) const {
  SDS_CHECK(!concepts.empty(), "{}: expected at least one concept, got none", source);
  std::set<std::string> seen;
  for (size_t i = 0; i < concepts.size(); ++i) {
    const Concept& c = concepts[i];
    validate_concept(c, fmt::format("{}: concepts[{}] (\"{}\")", source, i, c.prompt));
    SDS_CHECK(seen.insert(c.prompt).second, "{}: concepts[{}]: duplicate prompt \"{}\"", source, i,
              c.prompt);
  }
}

namespace {

Json primitives_json(const std::vector<Primitive>& primitives) {
  Json prims = Json::array();
  for (const Primitive& p : primitives) {
    Json j;
    j["shape"] = shape_name(p.shape);
    j["center"] = vec_json(p.center);
    switch (p.shape) {
      case Shape::Sphere:
        j["radius"] = p.radius;
        break;
      case Shape::Ellipsoid:
        j["radii"] = vec_json(p.radii);
        break;
      case Shape::Box:
        j["size"] = vec_json(p.size);
        break;
      case Shape::Cylinder:
      case Shape::Cone:
        j["radius"] = p.radius;
        j["height"] = p.height;
        break;
      case Shape::Torus:
        j["major_radius"] = p.major_radius;
        j["minor_radius"] = p.minor_radius;
        break;
    }
    if (p.rotation_deg != std::array<double, 3>{0, 0, 0}) j["rotation"] = vec_json(p.rotation_deg);
    j["color"] = vec_json(p.color);
    prims.push_back(std::move(j));
  }
  return prims;
}

}  // namespace

Json Scene::to_json() const {
  Json list = Json::array();
  for (const Concept& c : concepts) {
    Json cj;
    cj["prompt"] = c.prompt;
    cj["background"] = vec_json(c.background);
    cj["primitives"] = primitives_json(c.primitives);
    if (!c.variants.empty()) {
      Json variants = Json::array();
      for (const Variant& v : c.variants) {
        variants.push_back({{"name", v.name}, {"primitives", primitives_json(v.primitives)}});
      }
      cj["variants"] = std::move(variants);
    }
    if (!c.width.empty()) {
      Json width = Json::array();
      for (const WidthDirection& d : c.width) {
        Json j{{"kind", d.kind}, {"std", d.std}};
        if (d.kind == "color") {
          j["direction"] = vec_json(d.direction);
          j["primitives"] = d.primitives;
        }
        width.push_back(std::move(j));
      }
      cj["width"] = std::move(width);
    }
    list.push_back(std::move(cj));
  }
  Json out;
  out["concepts"] = std::move(list);
  return out;
}

Scene Scene::resolve(const std::string& name) {
  if (name.empty() || name == "builtin") return builtin();
  if (name == "builtin:families") return builtin_families();
  return load(name);
}

const Concept& Scene::find(const std::string& prompt) const {
  for (const Concept& c : concepts) {
    if (c.prompt == prompt) return c;
  }
  std::vector<std::string> quoted;
  for (const Concept& c : concepts) quoted.push_back("\"" + c.prompt + "\"");
  fail("unknown prompt \"{}\"; known prompts are: {}", prompt, fmt::join(quoted, ", "));
}

std::vector<std::string> Scene::prompts() const {
  std::vector<std::string> out;
  for (const Concept& c : concepts) out.push_back(c.prompt);
  return out;
}

}  // namespace sds
