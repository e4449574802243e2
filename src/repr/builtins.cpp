// The representations that configs can name.

#include "sds/core/registry.h"
#include "sds/repr/gaussians.h"
#include "sds/repr/nerf.h"
#include "sds/repr/voxel_grid.h"

namespace sds {

template <>
void register_builtins<Representation>(Registry<Representation>& r) {
  r.add("voxel_grid", &VoxelGrid::from_config);
  r.add("gaussians", &Gaussians::from_config);
  r.add("nerf", &Nerf::from_config);
}

}  // namespace sds
