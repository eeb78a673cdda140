"""Names of sources: ``raw``, ``<codec>_<size>[_<variant>]`` and ``<codec>[_<size>]_at_<source>``.

A decoded source is named after the codec and operating point that made it
(``dnerv_M``), optionally with a variant (``dnerv_M_ddp``); a classical codec run at
the bpp of another source names that source after ``_at_`` (``h264_at_nerv_M``).
Compression names its output with :meth:`SourceName.format`; reports and result
gathering read names back with :meth:`SourceName.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass

AT = "_at_"


@dataclass(frozen=True)
class SourceName:
    codec: str                 # "raw" for a prepared source
    size: str | None = None    # operating point, e.g. "M"
    variant: str | None = None  # e.g. "ddp" in dnerv_M_ddp
    at: str | None = None      # the source whose bpp this one was run at

    @classmethod
    def parse(cls, name: str) -> "SourceName":
        """Any source name; parts a name does not have are None (``raw`` is only a codec)."""
        head, _, at = name.partition(AT)
        codec, size, variant = (head.split("_", 2) + [None, None])[:3]
        return cls(codec, size or None, variant or None, at or None)

    def format(self) -> str:
        parts = [self.codec, self.size, self.variant]
        name = "_".join(p for p in parts if p)
        return f"{name}{AT}{self.at}" if self.at else name

    def __str__(self) -> str:
        return self.format()

    @property
    def curve(self) -> str:
        """One rate-distortion curve per codec variant, whatever the size; classical codecs
        run at other sources' bpp form one curve per codec."""
        if self.at:
            return f"{self.codec} at INR bpp"
        return "_".join(p for p in (self.codec, self.variant) if p)
