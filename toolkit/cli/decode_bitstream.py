"""Decode a bitstream with nothing but the file into a lossless source; PSNR against a reference.

Any codec's file (nerv, dnerv, ffnerv, h264, hevc): the header says how to decode it and
names the videos (files written before names were stored decode as video_00000 ...).

Examples::

    python tools/decode_bitstream.py work_dirs/compress/ucf101/dnerv_M/dnerv_M.bits \
        --out data/ucf101/dnerv_M_received
    # with per-video and mean PSNR / MS-SSIM against the source it was compressed from
    python tools/decode_bitstream.py dnerv_M.bits --out /tmp/decoded --reference data/ucf101/raw
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path


from toolkit.codecs.bitstream import BitstreamError, read_bitstream
from toolkit.data.source import MANIFEST, Source, SourceError, SourceWriter, VideoRecord
from toolkit.data.video import VideoError
from toolkit.paths import PathError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bits", type=Path, help="the bitstream file (.bits)")
    parser.add_argument("--out", type=Path, required=True,
                        help="source directory to write (its name is the source's name)")
    parser.add_argument("--reference", type=Path,
                        help="source directory to measure against (e.g. data/ucf101/raw)")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="where INR networks render (default: cuda when available)")
    parser.add_argument("--verbose", action="store_true", help="print every video's quality")
    return parser.parse_args(argv)


def _reference_videos(reference: Source, catalog, header: dict) -> list[VideoRecord]:
    """The reference video of each decoded video: by path when the file names its videos,
    else by the source index INR headers keep, else in order."""
    if not catalog.generic:
        by_path = {v.path: v for v in reference.videos}
        missing = [e.path for e in catalog.videos if e.path not in by_path]
        if missing:
            raise SourceError(f"reference {reference.root}: has no video {missing[0]!r} of the "
                              f"bitstream ({len(missing)} missing); pass the source it was compressed from")
        return [by_path[e.path] for e in catalog.videos]
    indices = [v.get("index", k) for k, v in enumerate(header["videos"])]
    if max(indices) >= len(reference.videos):
        raise SourceError(f"reference {reference.root}: has {len(reference.videos)} videos, the "
                          f"bitstream refers to video {max(indices)}; pass the source it was compressed from")
    return [reference.videos[i] for i in indices]


def decode_bitstream(bits: Path, out: Path, reference: Path | None = None, device: str | None = None,
                     progress: bool = True) -> dict:
    """Decode ``bits`` into the source ``out``; returns its summary (quality when ``reference``)."""
    import torch
    from tqdm import tqdm

    from toolkit.codecs.decoding import check_bitstream, decode_videos, frame_format
    from toolkit.quality import frame_quality, ms_ssim_applies

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SourceError("--device cuda: no CUDA GPU here; use --device cpu")
    bitstream = read_bitstream(bits)
    codec, catalog = check_bitstream(bitstream)
    header = bitstream.header
    if (out / MANIFEST).is_file():
        raise SourceError(f"{out}: already a source; choose another --out or remove it")
    reference_source = Source(reference) if reference is not None else None
    references = (_reference_videos(reference_source, catalog, header)
                  if reference_source is not None else None)
    height, width, fps = frame_format(bitstream)
    writer = SourceWriter(out, out.name, codec=codec.name, size=None, height=height, width=width,
                          fps=fps, classes=list(catalog.classes))
    for entry in catalog.videos:  # every name checked before anything is decoded
        writer.video_path(entry.path)
    records, quality = [], []
    start = time.time()
    decoded = decode_videos(codec, bitstream, device)
    for k, (entry, frames) in enumerate(tqdm(zip(catalog.videos, decoded), total=len(catalog.videos),
                                             desc="decoding", unit="video",
                                             disable=None if progress else True)):
        if references is not None:
            expected = reference_source.read_video(references[k])
            if frames.shape != expected.shape:
                raise SourceError(f"decoded video {entry.path} has shape {frames.shape}, the reference "
                                  f"{references[k].path} {expected.shape}; pass the source it was "
                                  f"compressed from")
            psnr, ssim = frame_quality(expected, frames, device)
            quality.append(dict(path=entry.path, psnr=float(psnr.mean()), ms_ssim=float(ssim.mean()),
                                frames=len(frames), psnr_sum=float(psnr.sum()), ssim_sum=float(ssim.sum())))
        writer.write_video(entry.path, frames)
        records.append(VideoRecord(entry.path, entry.label, entry.split, len(frames)))
    num_bytes = bits.stat().st_size
    pixels = height * width * sum(r.num_frames for r in records)
    summary = dict(bitstream=dict(path=str(bits), bytes=num_bytes,
                                  sha256=hashlib.sha256(bits.read_bytes()).hexdigest()),
                   bpp=num_bytes * 8 / pixels, decode_s=time.time() - start,
                   names="generic" if catalog.generic else "from the bitstream")
    if quality:
        frames = sum(q["frames"] for q in quality)
        summary.update(reference=str(reference_source.root),
                       psnr=sum(q.pop("psnr_sum") for q in quality) / frames,
                       ms_ssim=sum(q.pop("ssim_sum") for q in quality) / frames,
                       ms_ssim_kind="ms_ssim" if ms_ssim_applies(height, width) else "ssim",
                       quality_per_video=quality)
    writer.finalize(records, **summary)
    return dict(summary, source=str(out), videos=len(records))


def print_table(summary: dict, verbose: bool) -> None:
    rows = [("source", summary["source"]), ("videos", summary["videos"]),
            ("names", summary["names"]), ("bpp", f"{summary['bpp']:.4f}")]
    if "psnr" in summary:
        kind = summary["ms_ssim_kind"].upper().replace("_", "-")
        if verbose:
            rows += [(q["path"], f"{q['psnr']:.2f} dB  {q['ms_ssim']:.4f}")
                     for q in summary["quality_per_video"]]
        rows += [("PSNR (dB), mean", f"{summary['psnr']:.2f}"), (f"{kind}, mean", f"{summary['ms_ssim']:.4f}")]
    width = max(len(str(k)) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = decode_bitstream(args.bits, args.out, args.reference, args.device)
    except (BitstreamError, SourceError, PathError, VideoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(summary, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
