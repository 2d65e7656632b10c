# .deb packages through CPack (cpack -G DEB in the build dir). Included at the end of the top
# CMakeLists.txt. The architecture follows the compiler's target (a cross toolchain file sets
# CMAKE_SYSTEM_PROCESSOR), so one source tree makes amd64, arm64 and armhf packages.
# What the package owns and what a purge removes: packaging/postrm and `man 8 mlc`.

set(MLC_PKG_DIR "${CMAKE_CURRENT_LIST_DIR}")

# ---- files ----
# CPack installs under /usr (CPACK_PACKAGING_INSTALL_PREFIX); absolute DESTINATIONs are avoided
# so `cmake --install` into a prefix stays usable for developers.
install(FILES "${MLC_PKG_DIR}/mlc.service" DESTINATION lib/systemd/system)
install(FILES "${MLC_PKG_DIR}/60-mlc-leds.rules" DESTINATION lib/udev/rules.d)
# postinst copies the example from here: /usr/share/doc may be excluded by dpkg path-exclude
# (minimal images do), /usr/share/mlc never is.
install(FILES etc/mlc.conf.example DESTINATION share/mlc)

# Debian wants man pages compressed, reproducibly (-n: no name or time stamp in the header).
find_program(MLC_GZIP gzip)
if(MLC_GZIP)
  set(MLC_MAN_GZ "${CMAKE_CURRENT_BINARY_DIR}/mlc.8.gz")
  add_custom_command(OUTPUT "${MLC_MAN_GZ}"
    COMMAND "${MLC_GZIP}" -9 -n -c "${MLC_PKG_DIR}/mlc.8" > "${MLC_MAN_GZ}"
    DEPENDS "${MLC_PKG_DIR}/mlc.8" VERBATIM)
  add_custom_target(mlc_man ALL DEPENDS "${MLC_MAN_GZ}")
  install(FILES "${MLC_MAN_GZ}" DESTINATION share/man/man8)
else()
  install(FILES "${MLC_PKG_DIR}/mlc.8" DESTINATION share/man/man8)
endif()

# ---- architecture ----
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _mlc_cpu)
if(_mlc_cpu MATCHES "^(x86_64|amd64)$")
  set(_mlc_deb_arch amd64)
elseif(_mlc_cpu MATCHES "^(aarch64|arm64|armv8.*)$")
  set(_mlc_deb_arch arm64)
elseif(_mlc_cpu MATCHES "^(arm|armv7.*|armv6.*|armhf)$")
  set(_mlc_deb_arch armhf)
elseif(_mlc_cpu MATCHES "^(i[3-6]86|x86)$")
  set(_mlc_deb_arch i386)
else()
  set(_mlc_deb_arch "")
endif()
set(MLC_DEB_ARCH "${_mlc_deb_arch}" CACHE STRING
    "Debian architecture of the package (from CMAKE_SYSTEM_PROCESSOR when empty)")
if(MLC_DEB_ARCH STREQUAL "")
  message(WARNING "mlc: no Debian architecture known for CMAKE_SYSTEM_PROCESSOR="
                  "'${CMAKE_SYSTEM_PROCESSOR}'; set -DMLC_DEB_ARCH=... before running cpack")
endif()

# ---- package ----
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "mlc")
set(CPACK_PACKAGE_VENDOR "ml-connector")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "ml-connector maintainers <mlc@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "bank transactions from Plaid into Exact Online")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "An on-premises agent that pulls bank transactions from Plaid and posts each one\n"
    "once into Exact Online as a bank entry. Runs as a hardened systemd service with its\n"
    "own user, keeps its store in /var/lib/mlc and shows its state on the board's LEDs.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # mlc_0.1.0_arm64.deb
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${MLC_DEB_ARCH}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/ml-connector/mlc")
# Dependencies are named, not computed with dpkg-shlibdeps, so cross builds need no target dpkg
# database. They are Debian 12's packages of the libraries MlcDeps links; the static build
# (MLC_STATIC) carries its own copies and needs none of them. passwd: useradd in postinst.
set(_mlc_deps "passwd")
if(NOT MLC_STATIC)
  string(APPEND _mlc_deps ", libc6 (>= 2.34), libcurl4 (>= 7.88), libmbedtls14 (>= 2.28), "
                          "libmbedx509-1 (>= 2.28), libmbedcrypto7 (>= 2.28), libcjson1 (>= 1.7.15), "
                          "liblmdb0 (>= 0.9.24)")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_mlc_deps}")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${MLC_PKG_DIR}/postinst;${MLC_PKG_DIR}/prerm;${MLC_PKG_DIR}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE) # scripts 0755, whatever the checkout says
# Only what `install()` lists: the mlc program, never test programs or dependency builds.
set(CPACK_STRIP_FILES TRUE)

include(CPack)
