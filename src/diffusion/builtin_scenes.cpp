// The built-in concepts of the exact prior. Each object fits in a sphere of radius 0.9 around the
// origin (so every orbit camera at radius 3 and 40 degrees fov sees it whole), fills about 55-75%
// of the image height, and carries a marker on its front (+X, azimuth 0) so that front and back
// views differ: a Janus-like failure shows up in the numbers. Features are at least ~0.07 world
// units thick so that a 64^3 voxel grid can reconstruct them.

#include "sds/core/json.h"
#include "sds/diffusion/scene.h"

namespace sds {

namespace {

constexpr const char* kBuiltinScenes = R"json({ "concepts": [
  { "prompt": "a red mug",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "cylinder", "center": [0, 0, -0.05], "radius": 0.42, "height": 1.05,
        "color": [0.82, 0.1, 0.1] },
      { "shape": "cylinder", "center": [0, 0, 0.48], "radius": 0.36, "height": 0.02,
        "color": [0.3, 0.15, 0.05] },
      { "shape": "torus", "center": [0, 0.44, -0.05], "major_radius": 0.26, "minor_radius": 0.075,
        "rotation": [0, 90, 0], "color": [0.82, 0.1, 0.1] },
      { "shape": "cylinder", "center": [0.4, 0, -0.05], "radius": 0.2, "height": 0.14,
        "rotation": [0, 90, 0], "color": [1.0, 0.85, 0.05] } ] },

  { "prompt": "a small robot",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "box", "center": [0, 0.15, -0.6], "size": [0.22, 0.18, 0.3],
        "color": [0.25, 0.25, 0.3] },
      { "shape": "box", "center": [0, -0.15, -0.6], "size": [0.22, 0.18, 0.3],
        "color": [0.25, 0.25, 0.3] },
      { "shape": "box", "center": [0, 0, -0.15], "size": [0.5, 0.7, 0.6],
        "color": [0.15, 0.35, 0.85] },
      { "shape": "box", "center": [0.27, 0, -0.17], "size": [0.08, 0.4, 0.26],
        "color": [1.0, 0.55, 0.05] },
      { "shape": "cylinder", "center": [0, 0.43, -0.17], "radius": 0.08, "height": 0.5,
        "color": [0.6, 0.6, 0.65] },
      { "shape": "cylinder", "center": [0, -0.43, -0.17], "radius": 0.08, "height": 0.5,
        "color": [0.6, 0.6, 0.65] },
      { "shape": "box", "center": [0, 0, 0.3], "size": [0.4, 0.44, 0.3],
        "color": [0.75, 0.75, 0.8] },
      { "shape": "sphere", "center": [0.2, 0.1, 0.33], "radius": 0.065,
        "color": [0.0, 0.9, 0.9] },
      { "shape": "sphere", "center": [0.2, -0.1, 0.33], "radius": 0.065,
        "color": [0.0, 0.9, 0.9] },
      { "shape": "cylinder", "center": [0, 0, 0.55], "radius": 0.045, "height": 0.22,
        "color": [0.6, 0.6, 0.65] },
      { "shape": "sphere", "center": [0, 0, 0.7], "radius": 0.075,
        "color": [0.95, 0.1, 0.1] } ] },

  { "prompt": "a snowman",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "sphere", "center": [0, 0, -0.46], "radius": 0.34, "color": [0.62, 0.78, 1.0] },
      { "shape": "sphere", "center": [0, 0, 0.02], "radius": 0.26, "color": [0.62, 0.78, 1.0] },
      { "shape": "sphere", "center": [0, 0, 0.4], "radius": 0.18, "color": [0.62, 0.78, 1.0] },
      { "shape": "torus", "center": [0, 0, 0.25], "major_radius": 0.16, "minor_radius": 0.055,
        "color": [0.85, 0.1, 0.1] },
      { "shape": "cone", "center": [0.29, 0, 0.4], "radius": 0.07, "height": 0.3,
        "rotation": [0, 90, 0], "color": [1.0, 0.5, 0.0] },
      { "shape": "sphere", "center": [0.15, 0.075, 0.47], "radius": 0.04,
        "color": [0.05, 0.05, 0.05] },
      { "shape": "sphere", "center": [0.15, -0.075, 0.47], "radius": 0.04,
        "color": [0.05, 0.05, 0.05] },
      { "shape": "sphere", "center": [0.24, 0, 0.1], "radius": 0.05, "color": [0.05, 0.05, 0.05] },
      { "shape": "sphere", "center": [0.245, 0, -0.04], "radius": 0.05,
        "color": [0.05, 0.05, 0.05] },
      { "shape": "sphere", "center": [0.29, 0, -0.3], "radius": 0.05,
        "color": [0.05, 0.05, 0.05] },
      { "shape": "sphere", "center": [0.33, 0, -0.44], "radius": 0.05,
        "color": [0.05, 0.05, 0.05] },
      { "shape": "cylinder", "center": [0, 0, 0.56], "radius": 0.19, "height": 0.04,
        "color": [0.08, 0.08, 0.1] },
      { "shape": "cylinder", "center": [0, 0, 0.67], "radius": 0.12, "height": 0.18,
        "color": [0.08, 0.08, 0.1] } ] },

  { "prompt": "a house",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "box", "center": [0, 0, -0.25], "size": [0.9, 1.0, 0.7],
        "color": [0.95, 0.8, 0.25] },
      { "shape": "box", "center": [0, 0, 0.1], "size": [0.7071, 0.98, 0.7071],
        "rotation": [0, 45, 0], "color": [0.8, 0.15, 0.1] },
      { "shape": "box", "center": [0.45, 0, -0.41], "size": [0.06, 0.22, 0.38],
        "color": [0.4, 0.2, 0.05] },
      { "shape": "box", "center": [0.45, 0.3, -0.3], "size": [0.06, 0.2, 0.18],
        "color": [0.2, 0.55, 1.0] },
      { "shape": "box", "center": [0.45, -0.3, -0.3], "size": [0.06, 0.2, 0.18],
        "color": [0.2, 0.55, 1.0] },
      { "shape": "box", "center": [-0.22, 0.25, 0.45], "size": [0.14, 0.14, 0.42],
        "color": [0.3, 0.3, 0.35] } ] }
] })json";

// The built-in families: one prompt, several objects. Colour (the mug, with width along a tint
// of its body), the side a part is on (the sign), and a part present or absent (the birdhouse).
// Each keeps a marker on its front that does not vary, so a member's views are not symmetric.
constexpr const char* kBuiltinFamilies = R"json({ "concepts": [
  { "prompt": "a mug in one of four colours",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "cylinder", "center": [0, 0, -0.05], "radius": 0.42, "height": 1.05,
        "color": [0.82, 0.1, 0.1] },
      { "shape": "cylinder", "center": [0, 0, 0.48], "radius": 0.36, "height": 0.02,
        "color": [0.3, 0.15, 0.05] },
      { "shape": "torus", "center": [0, 0.44, -0.05], "major_radius": 0.26, "minor_radius": 0.075,
        "rotation": [0, 90, 0], "color": [0.82, 0.1, 0.1] },
      { "shape": "cylinder", "center": [0.4, 0, -0.05], "radius": 0.2, "height": 0.14,
        "rotation": [0, 90, 0], "color": [1.0, 0.85, 0.05] } ],
    "variants": [
      { "name": "red", "edit": [] },
      { "name": "blue", "edit": [ { "index": 0, "color": [0.1, 0.25, 0.85] },
                                  { "index": 2, "color": [0.1, 0.25, 0.85] } ] },
      { "name": "green", "edit": [ { "index": 0, "color": [0.1, 0.6, 0.2] },
                                   { "index": 2, "color": [0.1, 0.6, 0.2] } ] },
      { "name": "purple", "edit": [ { "index": 0, "color": [0.55, 0.15, 0.7] },
                                    { "index": 2, "color": [0.55, 0.15, 0.7] } ] } ],
    "width": [ { "kind": "color", "primitives": [0, 2], "direction": [1, 1, 1], "std": 0.1 } ] },

  { "prompt": "a post with a sign",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "box", "center": [0, 0, -0.7], "size": [0.8, 0.6, 0.2],
        "color": [0.2, 0.3, 0.8] },
      { "shape": "cylinder", "center": [0, 0, -0.05], "radius": 0.1, "height": 1.2,
        "color": [0.6, 0.6, 0.6] },
      { "shape": "box", "center": [0.33, 0, -0.52], "size": [0.14, 0.3, 0.16],
        "color": [1.0, 0.55, 0.05] },
      { "shape": "box", "center": [0.3, 0, 0.35], "size": [0.4, 0.06, 0.3],
        "color": [0.1, 0.7, 0.3] },
      { "shape": "box", "center": [0.1, 0, -0.1], "size": [0.04, 0.12, 0.3],
        "color": [1.0, 0.55, 0.05] } ],
    "variants": [
      { "name": "+x", "edit": [] },
      { "name": "+y", "edit": [ { "index": 3, "center": [0, 0.3, 0.35], "size": [0.06, 0.4, 0.3] } ] },
      { "name": "-x", "edit": [ { "index": 3, "center": [-0.3, 0, 0.35] } ] },
      { "name": "-y", "edit": [ { "index": 3, "center": [0, -0.3, 0.35], "size": [0.06, 0.4, 0.3] } ] } ] },

  { "prompt": "a birdhouse",
    "background": [1, 1, 1],
    "primitives": [
      { "shape": "box", "center": [0, 0, -0.15], "size": [0.6, 0.6, 0.7],
        "color": [0.75, 0.55, 0.3] },
      { "shape": "box", "center": [0, 0, 0.3], "size": [0.75, 0.75, 0.2],
        "color": [0.6, 0.15, 0.1] },
      { "shape": "cylinder", "center": [0.3, 0, -0.05], "radius": 0.16, "height": 0.04,
        "rotation": [0, 90, 0], "color": [0.1, 0.08, 0.05] },
      { "shape": "box", "center": [0, 0, -0.55], "size": [0.7, 0.7, 0.1],
        "color": [0.4, 0.4, 0.4] } ],
    "variants": [
      { "name": "plain", "edit": [] },
      { "name": "perch", "add": [ { "shape": "cylinder", "center": [0.45, 0, -0.2], "radius": 0.06,
                                   "height": 0.3, "rotation": [0, 90, 0],
                                   "color": [0.3, 0.2, 0.1] } ] },
      { "name": "chimney", "add": [ { "shape": "box", "center": [-0.15, 0.15, 0.52],
                                     "size": [0.14, 0.14, 0.25], "color": [0.5, 0.5, 0.55] } ] } ] }
] })json";

}  // namespace

Scene Scene::builtin() {
  return from_json(parse_json(kBuiltinScenes, "<built-in scenes>"), "built-in scenes");
}

Scene Scene::builtin_families() {
  return from_json(parse_json(kBuiltinFamilies, "<built-in families>"), "built-in families");
}

}  // namespace sds
