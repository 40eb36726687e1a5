# Finds oneDNN from its header and shared library, never failing: defines the imported target
# cifar_exp_dnnl, CIFAR_EXP_DNNL_VERSION, CIFAR_EXP_DNNL_INCLUDE_DIR and CIFAR_EXP_DNNL_LIBRARY
# when both are there. (oneDNN's own dnnl-config.cmake is not used: see CMakeLists.txt.)
# The library first, then the headers installed beside it: PyTorch's wheel, on
# CMAKE_PREFIX_PATH for a PyPI build, carries oneDNN 3 headers for a oneDNN it links privately.
find_library(CIFAR_EXP_DNNL_LIBRARY NAMES dnnl)
if(CIFAR_EXP_DNNL_LIBRARY)
  get_filename_component(dnnl_lib_dir "${CIFAR_EXP_DNNL_LIBRARY}" DIRECTORY)
  find_path(CIFAR_EXP_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl_version.h
            PATHS "${dnnl_lib_dir}/../../include" "${dnnl_lib_dir}/../include" NO_DEFAULT_PATH)
endif()
if(CIFAR_EXP_DNNL_INCLUDE_DIR AND CIFAR_EXP_DNNL_LIBRARY)
  file(STRINGS "${CIFAR_EXP_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" dnnl_version_lines
       REGEX "^#define DNNL_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
  set(dnnl_version_parts "")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "DNNL_VERSION_${part} +([0-9]+)" _ "${dnnl_version_lines}")
    list(APPEND dnnl_version_parts "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN dnnl_version_parts "." CIFAR_EXP_DNNL_VERSION)
  if(CIFAR_EXP_DNNL_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    add_library(cifar_exp_dnnl INTERFACE)
    target_link_libraries(cifar_exp_dnnl INTERFACE "${CIFAR_EXP_DNNL_LIBRARY}")
  else()
    message(STATUS "oneDNN: no version in ${CIFAR_EXP_DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h; not used")
  endif()
endif()
