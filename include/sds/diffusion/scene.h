#pragma once
// Scenes of the exact prior: concepts (a prompt and an analytic 3D object made of primitives)
// read from a JSON scene file or taken from the built-in set. See docs/exact-prior.md for the
// file format; the object of a concept lies inside the unit cube [-1, 1]^3, world +Z up, and its
// front faces +X (azimuth 0).

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "sds/core/json.h"

namespace sds {

/// The analytic shapes a concept is built from.
enum class Shape { Sphere, Ellipsoid, Box, Cylinder, Cone, Torus };

/// The scene-file name of a shape ("sphere", "ellipsoid", "box", "cylinder", "cone", "torus").
std::string shape_name(Shape shape);
/// The shape named `name`; an unknown name is an sds::Error that lists the valid ones.
Shape parse_shape(const std::string& name);

/// Rotation matrix (row-major 3 x 3) of XYZ Euler angles in degrees: R = Rz(z) Ry(y) Rx(x), so a
/// local point p maps to world `center + R p` (rotate about X first, then Y, then Z; fixed axes).
std::array<double, 9> rotation_matrix(const std::array<double, 3>& rotation_deg);

/// One solid primitive. Only the parameters of its shape are used (and written to JSON); all
/// lengths are world units, all shapes are centred on `center` in their local frame.
struct Primitive {
  Shape shape = Shape::Sphere;
  std::array<double, 3> center{0, 0, 0};
  double radius = 0;        ///< sphere; cylinder and cone (radius of the base)
  double height = 0;        ///< cylinder and cone, along local Z (cone: base at -height/2, apex at
                            ///< +height/2)
  double major_radius = 0;  ///< torus: ring radius, ring in the local XY plane
  double minor_radius = 0;  ///< torus: tube radius (< major_radius)
  std::array<double, 3> radii{0, 0, 0};         ///< ellipsoid semi-axes along local X, Y, Z
  std::array<double, 3> size{0, 0, 0};          ///< box: full edge lengths along local X, Y, Z
  std::array<double, 3> rotation_deg{0, 0, 0};  ///< XYZ Euler angles, see rotation_matrix
  std::array<double, 3> color{0.5, 0.5, 0.5};   ///< linear RGB albedo in [0, 1]

  static Primitive sphere(std::array<double, 3> center, double radius, std::array<double, 3> color);
  static Primitive ellipsoid(std::array<double, 3> center, std::array<double, 3> radii,
                             std::array<double, 3> color);
  static Primitive box(std::array<double, 3> center, std::array<double, 3> size,
                       std::array<double, 3> color);
  static Primitive cylinder(std::array<double, 3> center, double radius, double height,
                            std::array<double, 3> color);
  static Primitive cone(std::array<double, 3> center, double radius, double height,
                        std::array<double, 3> color);
  static Primitive torus(std::array<double, 3> center, double major_radius, double minor_radius,
                         std::array<double, 3> color);
  /// This primitive with `rotation_deg` set (chainable with the factories above).
  Primitive rotated(std::array<double, 3> degrees) const;

  /// Radius of a sphere around `center` that contains the primitive.
  double bounding_radius() const;
  /// Exact world-space axis-aligned bounding box, `{min, max}`.
  std::array<std::array<double, 3>, 2> bounds() const;
};

/// One member of a concept family: a named object (the union of its primitives).
struct Variant {
  std::string name;
  std::vector<Primitive> primitives;
};

/// A direction of width within every mode of a concept: the exact prior's components become
/// N(mu_k, s^2 I + sum_j b_j b_j^T), with b_j = 2 std d(image)/dt the change of the view's pixels
/// in [-1, 1] per unit t of the edit below (exact: renders are linear in albedo).
struct WidthDirection {
  /// "color": t `direction` added to the albedo of `primitives`; "brightness": every albedo
  /// scaled by 1 + t.
  std::string kind = "color";
  std::vector<int64_t> primitives;           ///< "color": indices into each member (empty: all)
  std::array<double, 3> direction{1, 1, 1};  ///< "color": RGB direction of the albedo change
  double std = 0.0;                          ///< standard deviation of t (> 0)
};

/// A prompt and its object: the union of its primitives (nearest surface wins) over a background.
/// A family lists variants: then the prompt's distribution is the mixture over variants x views,
/// and `primitives` is only the template the variants were written against.
struct Concept {
  std::string prompt;
  std::array<double, 3> background{1, 1, 1};  ///< linear RGB in [0, 1]
  std::vector<Primitive> primitives;
  std::vector<Variant> variants;      ///< empty: the concept is its own single member
  std::vector<WidthDirection> width;  ///< empty: each mode is isotropic (s^2 I)

  /// The members of the family, each a plain concept (this prompt and background, one variant's
  /// primitives, no variants, this width); the concept itself when it has no variants.
  std::vector<Concept> members() const;
  /// The number of members (1 without variants).
  int64_t member_count() const;
  /// The name of member `index`: its variant's name, or "" without variants.
  std::string member_name(int64_t index) const;
};

/// Checks one concept: non-empty prompt and primitive list, positive sizes, minor < major radius
/// for a torus, colours in [0, 1], every primitive inside [-1, 1]^3; for a family the same of
/// every variant, distinct non-empty variant names; width directions with std > 0 and primitive
/// indices valid in every member. Throws sds::Error naming `where`, the variant and primitive
/// index and the offending value.
void validate_concept(const Concept& concept_, const std::string& where = "concept");

/// A set of concepts with distinct prompts.
class Scene {
 public:
  std::vector<Concept> concepts;

  /// Parses and validates a scene (format in docs/exact-prior.md); unknown keys, unknown shapes,
  /// missing parameters and invalid values are sds::Errors that name `source` and the concept and
  /// primitive index.
  static Scene from_json(const Json& json, const std::string& source = "scene");
  /// Reads a scene file; a missing file or malformed JSON is an sds::Error.
  static Scene load(const std::filesystem::path& path);
  /// The built-in concepts, each with a marker on its front (+X) so that views are not symmetric.
  static Scene builtin();
  /// The built-in concept families (docs/exact-prior.md): variants of colour, of the side a marker
  /// is on and of a part present or absent, each with a front marker.
  static Scene builtin_families();
  /// `builtin()` for "" or "builtin", `builtin_families()` for "builtin:families", else the
  /// scene file at `name`.
  static Scene resolve(const std::string& name);

  /// The scene in the file format; `from_json(to_json())` reproduces it exactly.
  Json to_json() const;
  /// Validates every concept, a non-empty list and distinct prompts.
  void validate(const std::string& source = "scene") const;

  /// The concept of `prompt`; an unknown prompt is an sds::Error listing the known prompts.
  const Concept& find(const std::string& prompt) const;
  /// The prompts in order.
  std::vector<std::string> prompts() const;
};

}  // namespace sds
