"""A documented energy model for one decision on a microcontroller with its sensors.

Energy of computing = instructions (counted on the emulated board, ``-icount shift=0``) x the
energy of one instruction, taken as one clock cycle at the MCU's run current (an M4 at one
instruction per cycle is optimistic for loads and branches and pessimistic for DSP MACs; the
cascade compares designs on the same core, so the constant matters less than the counts).
Energy of sensing = each sensor's active power for the time it captures one window + its
sleep power for the rest of the decision period. The MCU's own sleep power between decisions
is added for the whole period.

Figures are the datasheets' typical values at the stated supply (check your part and its
revision; they vary with mode and temperature):

- **nRF52840** (Nordic): CPU running from flash with the cache on and the DC/DC regulator,
  about 52 uA/MHz at 3.0 V (3.3 mA at 64 MHz); System ON sleep with the RTC running and RAM
  retained, about 3 uA.
- **ADXL345** accelerometer (Analog Devices): 140 uA at 2.5 V in measurement mode at the
  highest output data rates, 0.1 uA in standby.
- **AMG8833** Grid-EYE 8x8 thermopile array (Panasonic): 4.5 mA at 3.3 V in normal mode,
  0.2 mA in sleep mode.
- **INMP441** I2S MEMS microphone (InvenSense/TDK): 1.4 mA at 3.3 V; it has no sleep mode, so
  it is power-gated when off (0 W; its start-up time is not modelled).
Modalities of other kinds (depth, precomputed vectors, process sensors) have no entry: their
sensing energy counts as 0 and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyfuse.core.errors import SpecError


@dataclass(frozen=True, slots=True, kw_only=True)
class Mcu:
    name: str
    clock_hz: float
    supply_v: float
    run_a_per_hz: float
    sleep_a: float

    @property
    def joules_per_instruction(self) -> float:
        return self.supply_v * self.run_a_per_hz  # (A/Hz x V) = J per cycle

    @property
    def sleep_w(self) -> float:
        return self.supply_v * self.sleep_a


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensor:
    part: str
    active_w: float
    sleep_w: float


MCUS = {"nrf52840": Mcu(name="nRF52840 (Cortex-M4F, 64 MHz, 3.0 V, DC/DC)", clock_hz=64e6,
                        supply_v=3.0, run_a_per_hz=52e-6 / 1e6, sleep_a=3e-6)}
SENSORS = {
    "vibration": Sensor(part="ADXL345 accelerometer (2.5 V)", active_w=140e-6 * 2.5,
                        sleep_w=0.1e-6 * 2.5),
    "thermal": Sensor(part="AMG8833 8x8 thermopile (3.3 V)", active_w=4.5e-3 * 3.3,
                      sleep_w=0.2e-3 * 3.3),
    "audio": Sensor(part="INMP441 I2S microphone (3.3 V, power-gated)", active_w=1.4e-3 * 3.3,
                    sleep_w=0.0),
}
#: Capture time of one window of an image sensor (AMG8833 at 10 frames per second)
IMAGE_FRAME_S = 0.1


def mcu(name: str) -> Mcu:
    if name not in MCUS:
        raise SpecError(f"cascade.mcu: {name!r} is not one of {sorted(MCUS)}")
    return MCUS[name]


def sensor_of(frontend: dict[str, Any]) -> tuple[Sensor | None, float]:
    """The sensor of a modality (from its front-end spec dict) and its capture time per
    window in seconds; ``(None, 0)`` for kinds without an entry."""
    kind = frontend.get("kind")
    if kind == "audio":
        return SENSORS["audio"], float(frontend["duration_s"])
    if kind == "vibration":
        return SENSORS["vibration"], float(frontend["window_s"])
    if kind == "image" and frontend.get("sensor") == "thermal":
        return SENSORS["thermal"], IMAGE_FRAME_S
    return None, 0.0


def sensing_joules(sensor: Sensor | None, capture_s: float, *, period_s: float,
                   on: bool) -> float:
    """One period of a sensor: active for its capture when ``on``, asleep otherwise."""
    if sensor is None:
        return 0.0
    awake_s = min(capture_s, period_s) if on else 0.0
    return sensor.active_w * awake_s + sensor.sleep_w * (period_s - awake_s)
