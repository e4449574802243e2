#pragma once
// Include this first in every test: c10's logging header defines a glog-style CHECK macro that
// would silently replace Catch's CHECK (aborting instead of counting). Torch's headers come
// first, their CHECK is removed, then Catch defines its own.

#include <ATen/ATen.h>
#include <c10/util/Logging.h>

#undef CHECK

#include <catch2/catch.hpp>
