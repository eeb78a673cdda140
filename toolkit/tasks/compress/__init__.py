"""The compression stage (configs/compress/): see :mod:`.stage`."""

from toolkit.tasks.compress.stage import compress_source, decode_to_source, target_bpp

__all__ = ["compress_source", "decode_to_source", "target_bpp"]
