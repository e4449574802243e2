#pragma once
// Enclosed cavities of a solid on a lattice: the empty regions that no path through empty cells
// connects to the lattice's boundary. No camera outside the solid can see into them, so images
// cannot tell a filled cavity from a hollow one.

#include <ATen/ATen.h>

namespace sds {

/// The solid `[X, Y, Z]` (bool, any device, every size >= 1) with its enclosed cavities filled:
/// an empty cell stays empty exactly when a path of empty cells, each a face neighbour
/// (6-connected) of the next, joins it to a cell on the lattice's boundary. Runs on the CPU in
/// O(cells) (a breadth-first flood from the boundary); the result is on the input's device.
at::Tensor fill_enclosed_cavities(const at::Tensor& solid);

}  // namespace sds
