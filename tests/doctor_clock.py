"""An independent reading of the kernel's clock discipline for the doctor tests: ntp_gettime(3)
(libc), not the adjtimex path gateway.doctor uses."""
from __future__ import annotations

import ctypes
import ctypes.util


class _NtpTimeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long), ("maxerror", ctypes.c_long),
                ("esterror", ctypes.c_long), ("tai", ctypes.c_long), ("pad", ctypes.c_long * 4)]


def kernel_synchronised() -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    tv = _NtpTimeval()
    return libc.ntp_gettimex(ctypes.byref(tv)) != 5      # TIME_ERROR = unsynchronised
