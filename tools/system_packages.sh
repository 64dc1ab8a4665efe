#!/usr/bin/env bash
# Installs the Debian packages tinyfuse's demo and tests need, only when something is missing:
# the MQTT broker, the host C/C++ compilers, the Arm cross-compiler with newlib, the RISC-V
# cross-compiler with picolibc, the emulators of the boards in firmware/boards (qemu-system-arm
# for the Cortex-M ones, qemu-system-misc for riscv32-virt), the micro:bit MicroPython image
# (its smoke test), and Python's venv.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || missing+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-unknown-elf)
[ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || missing+=(picolibc-riscv64-unknown-elf)
command -v qemu-system-riscv32 >/dev/null 2>&1 || missing+=(qemu-system-misc)
[ -f /usr/share/firmware-microbit-micropython/firmware.hex ] || missing+=(firmware-microbit-micropython)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "tinyfuse setup: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    }
    sudo="sudo"
fi
echo "tinyfuse setup: installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
