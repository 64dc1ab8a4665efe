# tinyfuse board entry point (MicroPython runs main.py after boot). `tinyfuse deploy` writes
# the sensors of the bundle's modalities between the two markers; check the pins and
# addresses of your board. Names are the modality names in config.json.
import json

import network  # ESP32 / Pico W
from machine import I2C, Pin

from tfmp import app, drivers

with open("config.json") as stream:
    wifi = json.load(stream)["wifi"]
station = network.WLAN(network.STA_IF)
station.active(True)
station.connect(wifi["ssid"], wifi["password"])

i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)  # ESP32 defaults; RP2040: I2C(0) on 5/4
sensors = {
    # sensors: begin
    "thermal": drivers.AMG8833(i2c),
    # sensors: end
}
app.run(sensors)
