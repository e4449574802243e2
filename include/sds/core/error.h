#pragma once
// sds::Error, the one exception type of the library, and the helpers that throw it.

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace sds {

/// Every error the library raises on bad input: the message says what was expected and what came.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws sds::Error with a fmt-formatted message.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sds

/// Throws sds::Error with the formatted message when `cond` is false.
#define SDS_CHECK(cond, ...)      \
  do {                            \
    if (!(cond)) {                \
      ::sds::fail(__VA_ARGS__);   \
    }                             \
  } while (0)
