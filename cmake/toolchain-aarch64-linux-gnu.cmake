# Cross build for 64-bit ARM (Raspberry Pi 3/4/5 on a 64-bit OS, most ARM gateways),
# against Debian's arm64 multiarch -dev packages (tools/install-deps.sh --cross installs them
# and the cross compiler):
#   cmake -S . -B build/cross-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
# tools/cross-test.sh builds this way and runs the unit tests under qemu-aarch64-static.
# The fully static build (tools/build-static.sh) uses this file too, with the musl wrapper
# from Debian's musl-dev:arm64 as compiler (-DCMAKE_C_COMPILER=aarch64-linux-musl-gcc).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
endif()
find_program(MLC_CROSS_STRIP aarch64-linux-gnu-strip)
if(MLC_CROSS_STRIP)
  set(CMAKE_STRIP "${MLC_CROSS_STRIP}" CACHE FILEPATH "" FORCE)
endif()

# Debian multiarch: the target's libraries sit in /usr/lib/aarch64-linux-gnu on this host, headers in
# /usr/include (shared) and /usr/include/aarch64-linux-gnu. Look for libraries only there, never in the
# host's /usr/lib/x86_64-linux-gnu, and ask pkg-config for the target's .pc files only.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Unit tests run under qemu-user. The dynamic loader and libraries of the target come from the
# multiarch packages (/lib/ld-linux-*.so.*, /usr/lib/aarch64-linux-gnu); QEMU_LD_PREFIX points qemu at the
# cross toolchain's own libc as a fallback for anything the multiarch packages do not provide.
find_program(MLC_QEMU qemu-aarch64-static)
if(MLC_QEMU AND NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/env;QEMU_LD_PREFIX=/usr/aarch64-linux-gnu;${MLC_QEMU}")
endif()
