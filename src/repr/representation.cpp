#include "sds/repr/representation.h"

#include "sds/core/error.h"

namespace sds {

void Representation::fix_geometry(const Occupancy&) {
  fail("this representation cannot fix its geometry (fixed_geometry)");
}

}  // namespace sds
