# SDS_CUDA_ARCHITECTURES -> CMAKE_CUDA_ARCHITECTURES (our kernels) and TORCH_CUDA_ARCH_LIST
# (which torch's CMake config turns into -gencode flags appended to CMAKE_CUDA_FLAGS, so it
# also reaches our .cu files). Both must name the same architectures, or nvcc builds the union.
#
# Accepted: a CMake CUDA_ARCHITECTURES list ("90", "80;86;90", "90a", "90-real", "90-virtual")
# or one of the keywords "native", "all", "all-major". A keyword is expanded with the list that
# enable_language(CUDA) detected (CMAKE_CUDA_ARCHITECTURES_NATIVE / _ALL / _ALL_MAJOR); the
# native GPUs are detected once, when a build folder is first configured.

# The torch spelling of one CMake architecture: 90 -> 9.0, 100a -> 10.0a, 90-real -> 9.0,
# 90-virtual -> 9.0+PTX (torch has no PTX-only form; the SASS it adds is harmless).
function(_sds_torch_arch out arch)
  if(NOT arch MATCHES "^([0-9]+)([0-9])([af]?)(-real|-virtual)?$")
    message(FATAL_ERROR "SDS_CUDA_ARCHITECTURES: '${arch}' is not a CUDA architecture "
                        "(expected e.g. 90, 80;86;90, 90a, 90-real, native)")
  endif()
  set(_torch "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
  if(CMAKE_MATCH_4 STREQUAL "-virtual")
    string(APPEND _torch "+PTX")
  endif()
  set(${out} "${_torch}" PARENT_SCOPE)
endfunction()

# Sets TORCH_CUDA_ARCH_LIST in the caller from `archs` (SDS_CUDA_ARCHITECTURES). A keyword needs
# the CUDA language enabled first; without it (SDS_CUDA off) none of our code is compiled for
# CUDA, and torch is left to its own default.
function(sds_torch_cuda_arch_list archs)
  if(archs STREQUAL "native" OR archs STREQUAL "all" OR archs STREQUAL "all-major")
    if(NOT CMAKE_CUDA_COMPILER_LOADED)
      return()
    endif()
    string(TOUPPER "${archs}" _key)
    string(REPLACE "-" "_" _key "${_key}")
    set(_expanded "${CMAKE_CUDA_ARCHITECTURES_${_key}}")
    if(NOT _expanded)
      message(FATAL_ERROR
        "SDS_CUDA_ARCHITECTURES=${archs}: CMake detected no such architectures (no GPU on this "
        "machine, or the build folder was first configured without one). Give a list instead, "
        "e.g. -DSDS_CUDA_ARCHITECTURES=90, or configure a fresh build folder on the GPU machine.")
    endif()
    set(archs "${_expanded}")
  endif()
  set(_list "")
  foreach(_arch IN LISTS archs)
    _sds_torch_arch(_torch "${_arch}")
    list(APPEND _list "${_torch}")
  endforeach()
  list(REMOVE_DUPLICATES _list)
  if(NOT _list)
    message(FATAL_ERROR "SDS_CUDA_ARCHITECTURES is empty (give e.g. 90 or native)")
  endif()
  set(TORCH_CUDA_ARCH_LIST "${_list}" PARENT_SCOPE)
endfunction()
