"""What neural (INR) video compression does to the tasks that consume the video."""

from toolkit import compat as _compat

__version__ = "0.1.0"

_compat.apply()
