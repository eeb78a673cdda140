"""What a bitstream holds besides coded data: which videos, in which order, and their names.

:class:`BitstreamLayout` is the frame format and the videos of an INR bitstream in decoding
order (``index``: the video's index in the source it was compressed from), plus which
network renders which videos (``jobs``). :class:`VideoCatalog` names the decoded videos
(path, label, split, class names) so that a bitstream decodes into a source with nothing
but the file; the compression stage stores it in every codec's header under ``catalog``.
Files written before the catalog existed decode under generic names (:meth:`VideoCatalog.generic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from toolkit.codecs.bitstream import MAX_VIDEO_PIXELS, Bitstream, HeaderFields

CATALOG_KEY = "catalog"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class VideoSlot:
    index: int       # the video's index in the source it was compressed from
    num_frames: int


@dataclass(frozen=True)
class BitstreamLayout:
    height: int
    width: int
    fps: float
    videos: tuple[VideoSlot, ...]
    #: Per network, the positions (in ``videos``) of the videos it renders; empty before planning.
    jobs: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def of_source(cls, source, videos: Sequence[int]) -> "BitstreamLayout":
        """The videos ``videos`` (source indices) of ``source``, in that order."""
        return cls(source.height, source.width, source.fps,
                   tuple(VideoSlot(i, source.videos[i].num_frames) for i in videos))

    def with_jobs(self, job_videos: Sequence[Sequence[int]]) -> "BitstreamLayout":
        """This layout with networks rendering ``job_videos`` (lists of source indices)."""
        position = {slot.index: k for k, slot in enumerate(self.videos)}
        return BitstreamLayout(self.height, self.width, self.fps, self.videos,
                               tuple(tuple(position[v] for v in videos) for videos in job_videos))

    @property
    def num_frames(self) -> int:
        return sum(slot.num_frames for slot in self.videos)

    @property
    def num_pixels(self) -> int:
        """H * W * frames: the denominator of bpp."""
        return self.height * self.width * self.num_frames

    def to_header(self) -> dict:
        header = dict(height=self.height, width=self.width, fps=self.fps,
                      videos=[dict(index=s.index, num_frames=s.num_frames) for s in self.videos])
        if self.jobs:
            header["jobs"] = [list(job) for job in self.jobs]
        return header

    @classmethod
    def from_header(cls, header: dict) -> "BitstreamLayout":
        """From a header its codec has checked (``INRCodec.check_header``)."""
        return cls(header["height"], header["width"], header["fps"],
                   tuple(VideoSlot(v["index"], v["num_frames"]) for v in header["videos"]),
                   tuple(tuple(job) for job in header.get("jobs", ())))


@dataclass(frozen=True)
class CatalogEntry:
    path: str    # under the source's videos/, e.g. "ApplyEyeMakeup/v_x_g01_c01.mkv"
    label: int
    split: str   # "train" | "test"


@dataclass(frozen=True)
class VideoCatalog:
    """Names of a bitstream's videos, in decoding order, and the class names."""

    classes: tuple[str, ...]
    videos: tuple[CatalogEntry, ...]
    generic: bool = False  # made up for a file without a catalog

    @classmethod
    def of_source(cls, source, videos: Sequence[int]) -> "VideoCatalog":
        return cls(tuple(source.classes), tuple(
            CatalogEntry(source.videos[i].path, source.videos[i].label, source.videos[i].split)
            for i in videos))

    @classmethod
    def generic_names(cls, count: int) -> "VideoCatalog":
        """``video_00000.mkv`` ... for files without a catalog (one class, split test)."""
        from toolkit.data.video import LOSSLESS_SUFFIX

        return cls(("unknown",), tuple(CatalogEntry(f"video_{i:05d}{LOSSLESS_SUFFIX}", 0, "test")
                                       for i in range(count)), generic=True)

    def to_header(self) -> dict:
        """Compact: a list ``[path, label, split]`` per video."""
        return dict(classes=list(self.classes),
                    videos=[[v.path, v.label, v.split] for v in self.videos])

    @classmethod
    def from_bitstream(cls, bitstream: Bitstream, count: int) -> "VideoCatalog":
        """The catalog of a file whose codec has checked its header and says it decodes
        ``count`` videos; generic names when it has none. BitstreamError when malformed."""
        stored = bitstream.header.get(CATALOG_KEY)
        if stored is None:
            return cls.generic_names(count)
        fields = HeaderFields(bitstream)
        stored = fields.mapping(stored, CATALOG_KEY, required=("classes", "videos"))
        classes = fields.array(stored["classes"], f"{CATALOG_KEY}.classes", 1, MAX_VIDEO_PIXELS)
        for i, name in enumerate(classes):
            if not isinstance(name, str):
                raise fields.error(f"header field {CATALOG_KEY}.classes[{i}] is not a string")
        entries = fields.array(stored["videos"], f"{CATALOG_KEY}.videos", count, count)
        videos = []
        for i, entry in enumerate(entries):
            where = f"{CATALOG_KEY}.videos[{i}]"
            path, label, split = fields.array(entry, where, 3, 3)
            if not isinstance(path, str):
                raise fields.error(f"header field {where}[0] (the video path) is not a string")
            videos.append(CatalogEntry(path, fields.integer(label, f"{where}[1]", 0, len(classes) - 1),
                                       fields.choice(split, f"{where}[2]", SPLITS)))
        return cls(tuple(classes), tuple(videos))
