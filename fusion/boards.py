"""Board budget presets: what a model may use on common microcontroller boards.

Each preset is the chip's (or the usual board's) flash and RAM minus a documented reserve for
the firmware that is not the model: vector table, HAL, RTOS, drivers, the radio stack and
stack/heap. ``Budget.flash_bytes`` is for the model's weights + graph + inference runtime;
``Budget.ram_bytes`` is for the tensor arena (activations and scratch).

=============  ===========  =========  ===============  =============  ============================
board          flash        RAM        flash reserve    RAM reserve    reserve is for
=============  ===========  =========  ===============  =============  ============================
nrf52840       1 MiB        256 KiB    256 KiB          96 KiB         BLE SoftDevice (~150 KiB
                                                                       flash, ~40 KiB RAM) + app
stm32l4r5      2 MiB        640 KiB    256 KiB          128 KiB        HAL, sensor drivers, USB
stm32f746      1 MiB        320 KiB    192 KiB          96 KiB         HAL, LCD/camera buffers, app
rp2040         2 MiB (QSPI) 264 KiB    512 KiB          96 KiB         MicroPython or Pico SDK +
                                                                       Wi-Fi (Pico W) stacks
esp32s3        8 MiB (N8)   512 KiB    6 MiB            256 KiB        ESP-IDF, Wi-Fi/MQTT stack;
                                                                       2 MiB app partition kept
=============  ===========  =========  ===============  =============  ============================
"""

from __future__ import annotations

from tinyfuse.core.errors import SpecError
from tinyfuse.fusion.spec import Budget

KIB = 1024
MIB = 1024 * KIB

# name -> (flash_total, ram_total, flash_reserve, ram_reserve), bytes
_BOARDS: dict[str, tuple[int, int, int, int]] = {
    "nrf52840": (1 * MIB, 256 * KIB, 256 * KIB, 96 * KIB),
    "stm32l4r5": (2 * MIB, 640 * KIB, 256 * KIB, 128 * KIB),
    "stm32f746": (1 * MIB, 320 * KIB, 192 * KIB, 96 * KIB),
    "rp2040": (2 * MIB, 264 * KIB, 512 * KIB, 96 * KIB),
    "esp32s3": (8 * MIB, 512 * KIB, 6 * MIB, 256 * KIB),
}

BOARD_NAMES = tuple(_BOARDS)


def board_budget(name: str) -> Budget:
    """The model budget of a preset board (totals minus the documented reserve).

    Parameters
    ----------
    name : str
        One of ``BOARD_NAMES`` (case-insensitive; ``-`` and ``_`` are ignored).
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in _BOARDS:
        raise SpecError(f"budget: unknown board {name!r}; presets are {list(BOARD_NAMES)}")
    flash, ram, flash_reserve, ram_reserve = _BOARDS[key]
    return Budget(name=key, flash_bytes=flash - flash_reserve, ram_bytes=ram - ram_reserve)


def board_totals(name: str) -> dict[str, int]:
    """Raw totals and reserves of a preset board, in bytes (for reports)."""
    board_budget(name)  # validates the name
    key = name.lower().replace("-", "").replace("_", "")
    flash, ram, flash_reserve, ram_reserve = _BOARDS[key]
    return {"flash_total_bytes": flash, "ram_total_bytes": ram,
            "flash_reserve_bytes": flash_reserve, "ram_reserve_bytes": ram_reserve}
