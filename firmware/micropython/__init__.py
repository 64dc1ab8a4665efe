"""The on-board MicroPython package lives in ``tfmp/`` (copied to the board as it is) with one
``main.py`` template; nothing here is imported by the host packages except as data files
(``tinyfuse.firmware.micropython_export`` copies and compiles them)."""
