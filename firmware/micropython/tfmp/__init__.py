"""tinyfuse on MicroPython: an int8 interpreter for the weights file the host generator writes
(``model``), the bundle's decision policy (``policy``), an MQTT 3.1.1 client (``mqtt``) with a
flash outbox (``outbox``), small front-ends (``frontends``) and sensor drivers (``drivers``).

Imports nothing from the host packages; runs on MicroPython and, for convenience, on CPython.
"""

VERSION = "1"
