# The four dependencies, from Debian's -dev packages (or MLC_STATIC_PREFIX for the static build).
# Everything links through one interface target, mlc::deps.
if(MLC_STATIC AND MLC_STATIC_PREFIX)
  # Static build (tools/build-static.sh): take every dependency from the prefix that
  # tools/build-static-deps.sh filled, and nothing from the host, so a musl binary never
  # picks up a glibc library or a header from /usr/include.
  list(PREPEND CMAKE_PREFIX_PATH "${MLC_STATIC_PREFIX}")
  set(ENV{PKG_CONFIG_LIBDIR} "${MLC_STATIC_PREFIX}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
  set(MLC_DEPS_FIND_OPTS PATHS "${MLC_STATIC_PREFIX}" PATH_SUFFIXES include lib NO_DEFAULT_PATH)
  # Let the final link drop every function nobody calls (the libraries were built with the
  # same section flags): about a third of the static binary.
  add_compile_options(-ffunction-sections -fdata-sections)
  add_link_options(-Wl,--gc-sections)
  # gcc's -Os value-range analysis reports snprintf truncations that the -O2 builds do not see
  # (format-truncation is a may-warning). The -O2 gcc and clang builds keep it an error; here it
  # stays a visible warning so the size build does not break on a warning the others never get.
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-error=format-truncation)
  endif()
elseif(MLC_STATIC)
  message(FATAL_ERROR "MLC_STATIC needs MLC_STATIC_PREFIX: run tools/build-static.sh, which builds the static libraries first")
else()
  set(MLC_DEPS_FIND_OPTS "")
endif()
find_package(PkgConfig REQUIRED)
find_package(MbedTLS REQUIRED)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
if(MLC_STATIC)
  # The static link needs libcurl's private dependencies too (pkg-config --static), in order.
  add_library(mlc_curl_static INTERFACE)
  target_include_directories(mlc_curl_static INTERFACE ${CURL_STATIC_INCLUDE_DIRS})
  target_link_libraries(mlc_curl_static INTERFACE ${CURL_STATIC_LDFLAGS})
  set(MLC_CURL_TARGET mlc_curl_static)
else()
  set(MLC_CURL_TARGET PkgConfig::CURL)
endif()
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
find_path(LMDB_INCLUDE_DIR lmdb.h ${MLC_DEPS_FIND_OPTS})
find_library(LMDB_LIBRARY lmdb ${MLC_DEPS_FIND_OPTS})
if(NOT LMDB_INCLUDE_DIR OR NOT LMDB_LIBRARY)
  message(FATAL_ERROR "LMDB not found: install liblmdb-dev (tools/install-deps.sh does)")
endif()

add_library(mlc_deps INTERFACE)
target_include_directories(mlc_deps INTERFACE ${LMDB_INCLUDE_DIR})
target_link_libraries(mlc_deps INTERFACE ${MLC_CURL_TARGET} PkgConfig::CJSON ${LMDB_LIBRARY} MbedTLS::mbedtls)
if(MLC_STATIC)
  # LMDB and mbedTLS's threading use pthreads; a static link must name it explicitly.
  find_package(Threads REQUIRED)
  target_link_libraries(mlc_deps INTERFACE Threads::Threads)
endif()
add_library(mlc::deps ALIAS mlc_deps)
