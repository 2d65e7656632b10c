# Debian 12's mbedTLS 2.28 ships no pkg-config file: find headers and the three libraries.
# MLC_DEPS_FIND_OPTS (cmake/MlcDeps.cmake) confines the static build to MLC_STATIC_PREFIX.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h HINTS ${MLC_STATIC_PREFIX}/include ${MLC_DEPS_FIND_OPTS})
find_library(MBEDTLS_LIBRARY mbedtls HINTS ${MLC_STATIC_PREFIX}/lib ${MLC_DEPS_FIND_OPTS})
find_library(MBEDX509_LIBRARY mbedx509 HINTS ${MLC_STATIC_PREFIX}/lib ${MLC_DEPS_FIND_OPTS})
find_library(MBEDCRYPTO_LIBRARY mbedcrypto HINTS ${MLC_STATIC_PREFIX}/lib ${MLC_DEPS_FIND_OPTS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS DEFAULT_MSG
  MBEDTLS_INCLUDE_DIR MBEDTLS_LIBRARY MBEDX509_LIBRARY MBEDCRYPTO_LIBRARY)
if(MbedTLS_FOUND AND NOT TARGET MbedTLS::mbedtls)
  add_library(MbedTLS::mbedtls INTERFACE IMPORTED)
  set_target_properties(MbedTLS::mbedtls PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${MBEDTLS_LIBRARY};${MBEDX509_LIBRARY};${MBEDCRYPTO_LIBRARY}")
endif()
