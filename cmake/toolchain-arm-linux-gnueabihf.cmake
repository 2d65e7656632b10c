# Cross build for 32-bit ARM hard-float (Raspberry Pi OS 32-bit, ARMv7 gateways),
# against Debian's armhf multiarch -dev packages (tools/install-deps.sh --cross installs them
# and the cross compiler):
#   cmake -S . -B build/cross-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm-linux-gnueabihf.cmake
# tools/cross-test.sh builds this way and runs the unit tests under qemu-arm-static.
# The fully static build (tools/build-static.sh) uses this file too, with the musl wrapper
# from Debian's musl-dev:armhf as compiler (-DCMAKE_C_COMPILER=arm-linux-musleabihf-gcc).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
endif()
find_program(MLC_CROSS_STRIP arm-linux-gnueabihf-strip)
if(MLC_CROSS_STRIP)
  set(CMAKE_STRIP "${MLC_CROSS_STRIP}" CACHE FILEPATH "" FORCE)
endif()

# Debian multiarch: the target's libraries sit in /usr/lib/arm-linux-gnueabihf on this host, headers in
# /usr/include (shared) and /usr/include/arm-linux-gnueabihf. Look for libraries only there, never in the
# host's /usr/lib/x86_64-linux-gnu, and ask pkg-config for the target's .pc files only.
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Unit tests run under qemu-user. The dynamic loader and libraries of the target come from the
# multiarch packages (/lib/ld-linux-*.so.*, /usr/lib/arm-linux-gnueabihf); QEMU_LD_PREFIX points qemu at the
# cross toolchain's own libc as a fallback for anything the multiarch packages do not provide.
find_program(MLC_QEMU qemu-arm-static)
if(MLC_QEMU AND NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/env;QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf;${MLC_QEMU}")
endif()
