"""Device drivers: sans-I/O codecs, thin transports and faithful simulators.

This package imports nothing else of ours. Layout:

- ``drivers.sam``       ID-card SAM reader (GA 467 framed serial/USB protocol)
- ``drivers.modbus``    Modbus RTU frames (CRC, requests, a relay-board model)
- ``drivers.turnstile`` gate drivers (Modbus relay pulse + passage input), plug-in seam
- ``drivers.wiegand``   Wiegand 26/34 decoding
- ``drivers.gps``       NMEA 0183 GGA/RMC decoding (pynmea2)
- ``drivers.camera``    OpenCV capture with reconnect
- ``drivers.ptydev``    pseudo-terminal device base used by every serial simulator
- ``drivers.sim``       the simulators
"""
