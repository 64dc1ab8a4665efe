"""Sensor drivers behind one interface: ``read()`` returns one raw reading (a flat sequence of
floats in physical units: a list, or ``array('f')`` for long windows) or ``None`` when the
sensor gave nothing (the modality is then
missing for that window). ``shape`` is the reading's (rows, cols) or (samples, axes).

Drivers here: AMG8833 (8x8 thermal, I2C), ADXL345 and MPU-6050 (accelerometers, I2C, a
window of samples at the sensor's rate), INMP441 (I2S microphone), and ``Replay`` (frames
from a list or a file, for tests and bench runs).
"""

import struct
from array import array


class Sensor:
    shape = (0, 0)

    def read(self):
        raise NotImplementedError


class Replay(Sensor):
    """Readings from a list, one per ``read()``; ``None`` once exhausted (or for a ``None``
    entry: a missing reading)."""

    def __init__(self, readings, shape):
        self.readings = list(readings)
        self.shape = tuple(shape)
        self.position = 0

    def read(self):
        if self.position >= len(self.readings):
            return None
        self.position += 1
        return self.readings[self.position - 1]


class AMG8833(Sensor):
    """Panasonic Grid-EYE: 64 pixels, 12-bit two's complement, 0.25 degC per LSB."""

    shape = (8, 8)

    def __init__(self, i2c, address=0x69):
        self.i2c = i2c
        self.address = address
        i2c.writeto_mem(address, 0x00, b"\x00")  # normal mode
        i2c.writeto_mem(address, 0x02, b"\x00")  # 10 frames per second

    def read(self):
        try:
            raw = self.i2c.readfrom_mem(self.address, 0x80, 128)
        except OSError:
            return None
        out = []
        for i in range(64):
            value = raw[2 * i] | (raw[2 * i + 1] << 8)
            out.append(((value & 0x7FF) - (0x800 if value & 0x800 else 0)) * 0.25)
        return out


class _Accelerometer(Sensor):
    """A window of ``samples`` x/y/z readings in g; ``axes`` picks which (0, 1, 2)."""

    def __init__(self, i2c, address, samples, axes=(2,), period_us=0):
        self.i2c = i2c
        self.address = address
        self.samples = samples
        self.axes = axes
        self.period_us = period_us
        self.shape = (samples, len(axes))

    def read(self):
        import time
        out = array("f")
        try:
            for _ in range(self.samples):
                xyz = self.sample()
                for a in self.axes:
                    out.append(xyz[a])
                if self.period_us:
                    time.sleep_us(self.period_us)
        except OSError:
            return None
        return out


class ADXL345(_Accelerometer):
    def __init__(self, i2c, samples, address=0x53, **options):
        super().__init__(i2c, address, samples, **options)
        i2c.writeto_mem(address, 0x31, b"\x0b")  # full resolution, +-16 g
        i2c.writeto_mem(address, 0x2C, b"\x0f")  # 3200 Hz output rate
        i2c.writeto_mem(address, 0x2D, b"\x08")  # measure

    def sample(self):
        x, y, z = struct.unpack("<hhh", self.i2c.readfrom_mem(self.address, 0x32, 6))
        return (x * 0.0039, y * 0.0039, z * 0.0039)


class MPU6050(_Accelerometer):
    def __init__(self, i2c, samples, address=0x68, **options):
        super().__init__(i2c, address, samples, **options)
        i2c.writeto_mem(address, 0x6B, b"\x00")  # wake up
        i2c.writeto_mem(address, 0x1C, b"\x00")  # +-2 g

    def sample(self):
        x, y, z = struct.unpack(">hhh", self.i2c.readfrom_mem(self.address, 0x3B, 6))
        return (x / 16384.0, y / 16384.0, z / 16384.0)


class INMP441(Sensor):
    """I2S MEMS microphone: ``samples`` 16-bit values scaled to [-1, 1)."""

    def __init__(self, sck, ws, sd, samples, rate_hz=16000, bus=0):
        from machine import I2S, Pin
        self.samples = samples
        self.shape = (samples, 1)
        self.buffer = bytearray(2 * samples)
        self.i2s = I2S(bus, sck=Pin(sck), ws=Pin(ws), sd=Pin(sd), mode=I2S.RX, bits=16,
                       format=I2S.MONO, rate=rate_hz, ibuf=4 * len(self.buffer))

    def read(self):
        view = memoryview(self.buffer)
        got = 0
        while got < len(self.buffer):
            count = self.i2s.readinto(view[got:])
            if not count:
                return None
            got += count
        out = array("f", bytearray(4 * self.samples))
        samples = array("h", self.buffer)
        for i in range(self.samples):
            out[i] = samples[i] / 32768.0
        return out
