"""Classical codec baselines: H.264 (libx264) and HEVC (libx265) through PyAV.

Videos are encoded to raw Annex-B elementary streams (no container), stored one chunk
per video in a :class:`~toolkit.codecs.bitstream.Bitstream`, and decoded with FFmpeg's
native decoders. :class:`ClassicalCodec` can match a target bpp by searching the CRF on
the measured size of the bitstream file. Settings and their reasons are described in
``docs/classical_codecs.md``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import fractions
import functools
import math
import multiprocessing
import os
import tempfile
import time
import warnings
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Sequence

import av
import numpy as np
from av.video.reformatter import Interpolation

from toolkit.codecs.bitstream import (MAX_FRAME_SIDE, MAX_VIDEO_PIXELS, Bitstream, HeaderFields,
                                      bitstream_error, write_bitstream)
from toolkit.codecs.base import Codec, Encoded
from toolkit.codecs.layout import CATALOG_KEY
from toolkit.registry import CODECS

#: Codec name -> (PyAV encoder, PyAV decoder).
CODEC_LIBRARIES = MappingProxyType({"h264": ("libx264", "h264"), "hevc": ("libx265", "hevc")})
#: Pixel format -> (vertical, horizontal) chroma subsampling factor.
PIX_FMT_SUBSAMPLING = MappingProxyType({"yuv420p": (2, 2), "yuv422p": (1, 2), "yuv444p": (1, 1)})
#: Presets shared by x264 and x265.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
           "slower", "veryslow", "placebo")
#: CRF range accepted by both encoders for 8-bit video.
CRF_RANGE = (0.0, 51.0)
#: Annex-B NAL unit types that carry SEI messages, per codec.
SEI_NAL_TYPES = MappingProxyType({"h264": frozenset({6}), "hevc": frozenset({39, 40})})

# RGB <-> YUV conversion used in both directions: BT.601 matrix, limited (MPEG) range,
# bilinear chroma resampling with accurate rounding, bit-exact across CPUs.
COLORSPACE = "ITU601"
COLOR_RANGE = "MPEG"
_INTERPOLATION = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
# AVCOL_SPC_BT470BG / AVCOL_RANGE_MPEG: written into the stream's VUI so that other
# decoders apply the same conversion.
_AV_COLORSPACE_BT601 = 5
_AV_COLOR_RANGE_MPEG = 1

#: Narrowest frame libx265 is given: the x265 in the PyAV wheel writes past a buffer in its
#: lookahead (cuTree) for frames 48 or fewer pixels wide (valgrind), corrupting the heap.
HEVC_MIN_WIDTH = 64

_CHUNK_NAME = "video/%05d"
_MAX_SEARCH_ITERATIONS = 16
_MIN_CRF_STEP = 0.01
_BRACKET_STEP = 6.0  # CRF +6 roughly halves the bitrate: a good first bracket step


def _check_codec(codec: str) -> None:
    if codec not in CODEC_LIBRARIES:
        raise ValueError(f"unknown codec {codec!r}: choose one of {', '.join(CODEC_LIBRARIES)}")


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
    """Encoder configuration shared by all videos of one compressed set.

    Attributes:
        codec: ``"h264"`` (libx264) or ``"hevc"`` (libx265).
        preset: x264/x265 speed preset.
        gop: maximum distance between intra frames; ``None`` makes it the video length,
            so each video starts with one IDR frame and has no periodic intra frames.
        pix_fmt: ``yuv420p`` (default; H and W must be even), ``yuv422p`` or ``yuv444p``.
        bframes: maximum consecutive B-frames; ``None`` keeps the encoder default.
        threads: encoder threads per video. 1 (default) gives the same bytes on every run;
            more may not (x265 thread pools, x264 sliced lookahead).
        scenecut: keep the encoder's adaptive intra frames on scene changes; ``False``
            forces exactly one intra frame per video when ``gop`` is ``None``.
        strip_sei: drop SEI NAL units (x264/x265 write their version and full option
            string there, 0.7-2.3 kB per stream) which decoding does not need.
        x264_avx512: let x264 use its AVX-512 code. Off by default: with it, the bundled
            libx264 gives a different stream on every run (1-2 % size spread, measured);
            limited to AVX2 its output is reproducible. No effect on other CPUs or HEVC.
    """

    codec: str
    preset: str = "medium"
    gop: int | None = None
    pix_fmt: str = "yuv420p"
    bframes: int | None = None
    threads: int = 1
    scenecut: bool = True
    strip_sei: bool = True
    x264_avx512: bool = False

    def __post_init__(self):
        _check_codec(self.codec)
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        if self.pix_fmt not in PIX_FMT_SUBSAMPLING:
            raise ValueError(f"unsupported pix_fmt {self.pix_fmt!r}: choose one of "
                             f"{', '.join(PIX_FMT_SUBSAMPLING)}")
        if self.gop is not None and self.gop < 1:
            raise ValueError(f"gop must be >= 1 or None, got {self.gop}")
        if self.bframes is not None and self.bframes < 0:
            raise ValueError(f"bframes must be >= 0 or None, got {self.bframes}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored in the bitstream header)."""
        return dataclasses.asdict(self)


def _check_frames(frames: np.ndarray, settings: EncoderSettings) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", type(frames).__name__)
        raise ValueError(f"frames must be a (T, H, W, 3) RGB array, got {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    num_frames, height, width, _ = frames.shape
    if num_frames < 1 or height < 1 or width < 1:
        raise ValueError(f"frames must be non-empty, got shape {frames.shape}")
    pix_fmt = settings.pix_fmt
    sub_h, sub_w = PIX_FMT_SUBSAMPLING[pix_fmt]
    if height % sub_h or width % sub_w:
        need = {(2, 2): "height and width", (1, 2): "width"}[(sub_h, sub_w)]
        raise ValueError(f"frames of {height}x{width} (HxW) cannot be encoded as {pix_fmt}: "
                         f"{need} must be even; crop or pad the video, or use pix_fmt='yuv444p'")
    if settings.codec == "hevc" and width < HEVC_MIN_WIDTH:
        raise ValueError(f"frames {width} pixels wide are too narrow for libx265 (its lookahead "
                         f"overruns a buffer below {HEVC_MIN_WIDTH}); pad the video to at least "
                         f"{HEVC_MIN_WIDTH} pixels")


def _check_crf(crf: float) -> None:
    if not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
        raise ValueError(f"crf must be within {CRF_RANGE}, got {crf}")


def _encoder_params(settings: EncoderSettings, keyint: int) -> tuple[str, str]:
    """The ``x264-params`` / ``x265-params`` option (name, value) for these settings."""
    params = {"keyint": keyint}
    if not settings.scenecut:
        params["scenecut"] = 0
    if settings.bframes is not None:
        params["bframes"] = settings.bframes
    if settings.codec == "h264":
        params["log"] = -1
        if not settings.x264_avx512 and _cpu_has_avx512():
            params["asm"] = "AVX2"  # x264's AVX2 level implies SSE*, AVX, FMA3, BMI1/2
        key = "x264-params"
    else:
        # libx265 ignores AVCodecContext.thread_count: size its thread pool here. With one
        # thread there is no pool at all, so lookahead, rate control and coding run in order
        # on one thread and the stream is the same on every run and machine load.
        params.update({"log-level": "error", "frame-threads": settings.threads})
        if settings.threads == 1:
            params.update({"pools": "none", "lookahead-slices": 0})
        else:
            params["pools"] = settings.threads
        key = "x265-params"
    return key, ":".join(f"{name}={value}" for name, value in params.items())


@functools.cache
def _cpu_has_avx512() -> bool:
    """Whether this is a Linux x86 CPU with AVX-512 (and so AVX2); False when unknown."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "avx512f" in flags and "avx2" in flags
    except OSError:
        pass
    return False


def _nal_unit_type(codec: str, header_byte: int) -> int:
    return header_byte & 0x1F if codec == "h264" else (header_byte >> 1) & 0x3F


def drop_nal_units(stream: bytes, codec: str, nal_types: Iterable[int]) -> bytes:
    """Remove the NAL units of the given types from an Annex-B ``stream``.

    Start codes never occur inside NAL payloads (emulation prevention), so splitting on
    ``00 00 01`` is exact; a zero byte before it belongs to a 4-byte start code.
    """
    nal_types = frozenset(nal_types)
    starts = []
    position = stream.find(b"\x00\x00\x01")
    while position >= 0:
        starts.append(position)
        position = stream.find(b"\x00\x00\x01", position + 3)
    if not starts or stream[:starts[0]].strip(b"\x00"):
        raise ValueError(f"{codec} stream does not start with an Annex-B start code")
    begins = [s - 1 if s > 0 and stream[s - 1] == 0 else s for s in starts]
    ends = begins[1:] + [len(stream)]
    kept = [stream[begin:end] for begin, start, end in zip(begins, starts, ends)
            if start + 3 < len(stream)
            and _nal_unit_type(codec, stream[start + 3]) not in nal_types]
    return b"".join(kept)


def _rgb_to_yuv(frame: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
        format=pix_fmt, dst_colorspace=COLORSPACE, dst_color_range=COLOR_RANGE,
        interpolation=_INTERPOLATION, threads=1)


def encode_video(frames: np.ndarray, fps: float, settings: EncoderSettings, crf: float) -> bytes:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB to a raw Annex-B elementary stream."""
    _check_frames(frames, settings)
    _check_crf(crf)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    num_frames, height, width, _ = frames.shape
    encoder = av.CodecContext.create(CODEC_LIBRARIES[settings.codec][0], "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, settings.pix_fmt
    encoder.framerate = fractions.Fraction(fps).limit_denominator(1001)
    encoder.time_base = 1 / encoder.framerate
    encoder.thread_count = settings.threads
    encoder.colorspace, encoder.color_range = _AV_COLORSPACE_BT601, _AV_COLOR_RANGE_MPEG
    params_key, params = _encoder_params(settings, keyint=settings.gop or num_frames)
    encoder.options = {"crf": f"{crf:g}", "preset": settings.preset, params_key: params}
    packets = []
    for index, frame in enumerate(frames):
        yuv = _rgb_to_yuv(frame, settings.pix_fmt)
        yuv.pts = index
        packets.extend(bytes(packet) for packet in encoder.encode(yuv))
    packets.extend(bytes(packet) for packet in encoder.encode(None))
    stream = b"".join(packets)
    if settings.strip_sei:
        stream = drop_nal_units(stream, settings.codec, SEI_NAL_TYPES[settings.codec])
    return stream


def decode_video(data: bytes, codec: str, num_frames: int, height: int, width: int,
                 threads: int = 1) -> np.ndarray:
    """Decode an Annex-B stream to (T, H, W, 3) uint8 RGB.

    Raises:
        ValueError: naming the problem when the stream is corrupt, truncated, or does not
            hold exactly ``num_frames`` frames of ``height`` x ``width``.
    """
    _check_codec(codec)
    if not data:
        raise ValueError(f"{codec} stream is empty")
    decoder = av.CodecContext.create(CODEC_LIBRARIES[codec][1], "r")
    decoder.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
    decoder.thread_count = threads
    frames = []

    def collect(decoded_frames) -> None:
        for frame in decoded_frames:
            if len(frames) == num_frames:
                raise ValueError(f"{codec} stream holds more than {num_frames} frames")
            if frame.is_corrupt:
                raise ValueError(
                    f"{codec} stream is corrupt: frame {len(frames)} has decode errors")
            if (frame.height, frame.width) != (height, width):
                raise ValueError(f"{codec} stream holds {frame.height}x{frame.width} frames, "
                                 f"expected {height}x{width}")
            frames.append(frame.to_ndarray(
                format="rgb24", src_colorspace=COLORSPACE, src_color_range=COLOR_RANGE,
                interpolation=_INTERPOLATION, threads=1))

    try:
        for packet in decoder.parse(data) + decoder.parse(None):
            collect(decoder.decode(packet))
        collect(decoder.decode(None))
    except av.FFmpegError as error:
        raise ValueError(f"{codec} stream is corrupt or truncated: {error}") from error
    if len(frames) != num_frames:
        raise ValueError(f"{codec} stream decoded to {len(frames)} frames, expected {num_frames} "
                         "(truncated or corrupt stream)")
    return np.stack(frames)


def _encode_job(job: tuple[np.ndarray, float, EncoderSettings, float]) -> bytes:
    return encode_video(*job)


def _ordered_bounded_map(executor: "_InlineExecutor | _WorkerPool", function: Callable,
                         items: Iterable, max_in_flight: int) -> Iterator:
    """Like ``executor.map`` but with at most ``max_in_flight`` pending items.

    ``Executor.map`` submits every item at once, which would pickle a whole dataset of
    videos into memory.
    """
    pending = collections.deque()
    for item in items:
        pending.append(executor.submit(function, item))
        if len(pending) >= max_in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class ClassicalCodec(Codec):
    """H.264 or HEVC compression of a set of videos into one :class:`Bitstream`."""

    def __init__(self, settings: EncoderSettings):
        if not isinstance(settings, EncoderSettings):
            raise TypeError(f"settings must be an EncoderSettings, got {type(settings).__name__}")
        self.settings = settings
        self.name = settings.codec

    def compress(self, videos: Sequence[np.ndarray], fps: float, crf: float | None = None,
                 target_bpp: float | None = None, tolerance: float = 0.03,
                 workers: int = 1) -> tuple[Bitstream, dict]:
        """Encode ``videos`` at a fixed ``crf``, or at the CRF that meets ``target_bpp``.

        bpp is measured on the serialised bitstream file (header and all chunks). With
        ``target_bpp`` the CRF is searched until bpp is within ``tolerance`` (relative)
        of the target; when no CRF gets there, the closest result is returned and
        ``info["within_tolerance"]`` is False.

        Returns:
            The bitstream and an info dict: ``crf``, ``bpp``, ``bytes``, ``iterations``,
            ``within_tolerance``, ``encode_time_s`` (all encodes), ``probes`` (the
            ``[crf, bpp]`` pairs tried).
        """
        if (crf is None) == (target_bpp is None):
            raise ValueError("give exactly one of crf or target_bpp")
        if crf is not None:
            _check_crf(crf)
        if target_bpp is not None and not target_bpp > 0:
            raise ValueError(f"target_bpp must be positive, got {target_bpp}")
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {tolerance}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if len(videos) == 0:
            raise ValueError("videos is empty: nothing to compress")

        crf = None if crf is None else float(crf)
        target_bpp = None if target_bpp is None else float(target_bpp)
        fps = float(fps)
        closest = None  # (log distance to target, crf, bpp, bitstream, bytes); one kept

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="classical_") as scratch, \
                self._executor(workers) as executor:
            def measure(probe_crf: float) -> float:
                nonlocal closest
                bitstream = self._encode_set(videos, fps, probe_crf, executor, workers)
                size = write_bitstream(os.path.join(scratch, "probe.bits"), bitstream)
                bpp = size * 8 / _total_pixels(bitstream.header)
                distance = 0.0 if target_bpp is None else abs(math.log(bpp / target_bpp))
                if closest is None or distance < closest[0]:
                    closest = (distance, probe_crf, bpp, bitstream, size)
                return bpp

            if crf is not None:
                probes = [(crf, measure(crf))]
            else:
                probes = _search_crf(measure, target_bpp, tolerance, self._initial_crf())
        _, best_crf, bpp, bitstream, size = closest
        info = {"crf": best_crf, "bpp": bpp, "bytes": size, "iterations": len(probes),
                "within_tolerance": target_bpp is None or abs(bpp / target_bpp - 1) <= tolerance,
                "encode_time_s": time.perf_counter() - start,
                "probes": [list(probe) for probe in probes]}
        if target_bpp is not None:
            info["target_bpp"] = target_bpp
            info["tolerance"] = tolerance
        return bitstream, info

    def encode(self, source, videos, target_bpp, preparation, jobs, networks, workers=1) -> Encoded:
        """The videos at the CRF that meets ``target_bpp`` (see :meth:`compress`)."""
        frames = [source.read_video(source.videos[i]) for i in videos]
        bitstream, coding = self.compress(frames, source.fps, target_bpp=target_bpp, workers=workers)
        return Encoded(bitstream, dict(encoder=coding))

    def check_header(self, bitstream: Bitstream) -> list[tuple[int, int, int]]:
        """Validate the header and chunks against this codec before anything is decoded.

        Returns (num_frames, height, width) per video; raises BitstreamError naming the file
        and the field otherwise. A frame takes at least one coded byte, so no video may
        claim more frames than its chunk has bytes.
        """
        fields = HeaderFields(bitstream)
        fields.codec(self.name)
        header = fields.mapping(bitstream.header, "(the header)",
                                required=("codec", "settings", "crf", "fps", "videos"),
                                optional=(CATALOG_KEY,))
        codec = self.name
        settings = fields.mapping(header["settings"], "settings",
                                  optional=[f.name for f in dataclasses.fields(EncoderSettings)])
        fields.choice(settings.get("codec", codec), "settings.codec", (codec,))
        fields.number(header["crf"], "crf", *CRF_RANGE)
        fields.number(header["fps"], "fps", 1e-3, 1e6)
        entries = fields.array(header["videos"], "videos", 1, len(bitstream.chunks))
        fields.chunks([_CHUNK_NAME % index for index in range(len(entries))])
        videos = []
        for index, entry in enumerate(entries):
            where = f"videos[{index}]"
            entry = fields.mapping(entry, where, required=("num_frames", "height", "width"))
            num_frames = fields.integer(entry["num_frames"], f"{where}.num_frames", 1, MAX_VIDEO_PIXELS)
            chunk_bytes = len(bitstream.chunks[_CHUNK_NAME % index])
            if num_frames > chunk_bytes:
                raise fields.error(f"video {index} ({_CHUNK_NAME % index}): {chunk_bytes} coded bytes "
                                   f"cannot hold the {num_frames} frames the header claims")
            videos.append((num_frames,
                           fields.integer(entry["height"], f"{where}.height", 1, MAX_FRAME_SIDE),
                           fields.integer(entry["width"], f"{where}.width", 1, MAX_FRAME_SIDE)))
        sizes = [t * h * w for t, h, w in videos]
        fields.decoded_pixels(sum(sizes), max(sizes))
        return videos

    def decompress(self, bitstream: Bitstream, device="cpu") -> Iterator[np.ndarray]:
        """Yield one (T, H, W, 3) uint8 RGB array per video, in order (decoded on the CPU).

        Every problem with the file (header, chunks, coded streams) raises BitstreamError.
        """
        videos = self.check_header(bitstream)
        for index, (num_frames, height, width) in enumerate(videos):
            name = _CHUNK_NAME % index
            try:
                frames = decode_video(bitstream.chunks[name], self.name, num_frames, height, width,
                                      threads=self.settings.threads)
            except ValueError as error:
                raise bitstream_error(bitstream, f"video {index} ({name}): {error}") from None
            yield frames

    def _initial_crf(self) -> float:
        return 23.0 if self.name == "h264" else 28.0  # the encoders' defaults

    @staticmethod
    def _executor(workers: int) -> "_InlineExecutor | _WorkerPool":
        return _InlineExecutor() if workers == 1 else _WorkerPool(workers)

    def _encode_set(self, videos: Sequence[np.ndarray], fps: float, crf: float,
                    executor: "_InlineExecutor | _WorkerPool", workers: int) -> Bitstream:
        for video in videos:
            _check_frames(video, self.settings)
        shapes = [video.shape[:3] for video in videos]
        jobs = [(video, fps, self.settings, crf) for video in videos]
        try:
            streams = list(_ordered_bounded_map(executor, _encode_job, jobs, 2 * workers))
        except concurrent.futures.process.BrokenProcessPool:
            # Seen once: libx265 of PyAV's wheel died in a worker (a near-null write, not
            # reproducible). Encoding is deterministic, so the set is encoded again, once.
            warnings.warn("an encoder process died; encoding this set again in new processes",
                          RuntimeWarning, stacklevel=2)
            executor.restart()
            streams = list(_ordered_bounded_map(executor, _encode_job, jobs, 2 * workers))
        header = {
            "codec": self.name, "settings": self.settings.to_dict(), "crf": crf, "fps": fps,
            "videos": [{"num_frames": t, "height": h, "width": w} for t, h, w in shapes],
        }
        chunks = {_CHUNK_NAME % index: stream for index, stream in enumerate(streams)}
        return Bitstream(header=header, chunks=chunks)


@CODECS.register_module(name="h264")
def build_h264_codec(**settings) -> ClassicalCodec:
    """Registry entry: ``CODECS.build(dict(type="h264", **EncoderSettings fields))``."""
    return ClassicalCodec(EncoderSettings("h264", **settings))


@CODECS.register_module(name="hevc")
def build_hevc_codec(**settings) -> ClassicalCodec:
    """Registry entry: ``CODECS.build(dict(type="hevc", **EncoderSettings fields))``."""
    return ClassicalCodec(EncoderSettings("hevc", **settings))


class _InlineExecutor(concurrent.futures.Executor):
    """Runs submitted calls at once in this process (``workers=1``)."""

    def restart(self) -> None:
        """Nothing to replace: no worker processes."""

    def submit(self, function, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:  # re-raised by Future.result()
            future.set_exception(error)
        return future


class _WorkerPool:
    """``workers`` spawned processes; :meth:`restart` replaces them after one has died.

    spawn, not fork: safe when the parent holds threads (torch, CUDA).
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = self._start()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, function, /, *args, **kwargs) -> concurrent.futures.Future:
        return self._pool.submit(function, *args, **kwargs)

    def restart(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._start()

    def __enter__(self) -> "_WorkerPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True)


def _total_pixels(header: dict) -> int:
    return sum(v["num_frames"] * v["height"] * v["width"] for v in header["videos"])


def _search_crf(measure: Callable[[float], float], target_bpp: float, tolerance: float,
                initial_crf: float) -> list[tuple[float, float]]:
    """Search the CRF whose bpp (``measure(crf)``) is within ``tolerance`` of ``target_bpp``.

    bpp falls with CRF (roughly log-linearly). Once a bracket [low CRF with bpp above the
    target, high CRF with bpp below] is found, each new CRF is interpolated on log(bpp)
    between the bracket ends and kept at least a quarter of the bracket away from either
    end, so the bracket shrinks at least geometrically, as in bisection.

    Returns:
        Every probe as ``(crf, bpp)``, in order.
    """
    probes = []

    def probe(crf: float) -> tuple[float, float]:
        crf = round(crf, 3)
        probes.append((crf, measure(crf)))
        return probes[-1]

    def done(result: tuple[float, float]) -> bool:
        within = abs(result[1] / target_bpp - 1) <= tolerance
        return within or len(probes) >= _MAX_SEARCH_ITERATIONS

    current = probe(initial_crf)
    if done(current):
        return probes
    # Bracket: step towards the target until bpp crosses it or the CRF range ends.
    direction = 1.0 if current[1] > target_bpp else -1.0
    while True:
        next_crf = min(max(current[0] + direction * _BRACKET_STEP, CRF_RANGE[0]), CRF_RANGE[1])
        if next_crf == current[0]:
            return probes  # the target is outside what the encoder can reach
        previous, current = current, probe(next_crf)
        if done(current):
            return probes
        if (current[1] > target_bpp) != (direction > 0):
            break
    low, high = sorted((previous, current))
    while high[0] - low[0] > _MIN_CRF_STEP:
        if low[1] > high[1]:
            fraction = math.log(low[1] / target_bpp) / math.log(low[1] / high[1])
        else:  # flat or non-monotone: interpolation is meaningless
            fraction = 0.5
        fraction = min(max(fraction, 0.25), 0.75)
        current = probe(low[0] + fraction * (high[0] - low[0]))
        if done(current):
            return probes
        if current[1] > target_bpp:
            low = current
        else:
            high = current
    return probes
