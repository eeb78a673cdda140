"""The codec interface: a set of videos within a bit budget -> a bitstream -> frames.

Every codec (INR and classical) is a :class:`Codec`. The compression stage
(:mod:`toolkit.tasks.compress`) drives any of them the same way::

    made = codec.prepare(source, videos, budget_bits, directory)   # unless kept from a run
    preparation = codec.preparation(directory, budget_bits, made)
    jobs = codec.fit_jobs(source, videos, preparation.weight_bits)  # networks to fit, or none
    networks = <the fitting service fits jobs>                      # toolkit.engine.fit
    encoded = codec.encode(source, videos, target_bpp, preparation, jobs, networks)
    frames = codec.decompress(bitstream, device)                    # from the file alone

A classical codec prepares nothing and fits nothing; an INR codec plans networks,
which the stage fits where it has GPUs, and packs them. The codec does no
distributed synchronisation and decides nothing about work dirs: ``prepare`` writes
its files into the directory it is handed, the stage decides when, where and on
which process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from toolkit.codecs.bitstream import Bitstream
from toolkit.codecs.layout import BitstreamLayout


@dataclass
class FitJob:
    """One network to fit: which videos of the source it represents, and its config."""

    name: str
    videos: list[int]
    network: dict
    dataset: dict = field(default_factory=dict)


@dataclass
class Preparation:
    """What a codec sets up before fitting: the bits left for weights, extra bitstream
    content (header entries, chunks), extra dataset arguments, and facts for the results."""

    weight_bits: float
    header: dict = field(default_factory=dict)
    chunks: dict = field(default_factory=dict)
    dataset_args: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


@dataclass
class Encoded:
    """A codec's bitstream and the facts of its making (for the results)."""

    bitstream: Bitstream
    info: dict = field(default_factory=dict)


class Codec(ABC):
    """Compresses a set of videos within a bit budget to a bitstream, and decodes it.

    The class attributes tell the stage what a codec needs besides ``encode``:
    """

    name: str
    #: One network per video: under ``torchrun`` the stage divides the fits among its
    #: processes instead of fitting each network data-parallel.
    per_video: bool = False
    #: Files :meth:`prepare` writes and a later run may reuse (the stage keeps them in the
    #: work dir, fingerprinted; see toolkit.engine.workdir).
    cached_files: tuple[str, ...] = ()
    #: Whether decode throughput (frames per second of the decoder) is measured.
    measures_decode_throughput: bool = False
    #: Whether its dataset can read the frames from a frame file (``fit.max_frames_in_memory``):
    #: the stage then writes one into the work dir for sources above that limit.
    reads_frame_file: bool = False

    # ---- before fitting ----------------------------------------------------------------
    def prepare(self, source, videos: Sequence[int], budget_bits: float, directory: Path,
                workers: int = 1) -> dict:
        """Make what fitting and the bitstream need besides the networks (D-NeRV: the coded
        keyframes), as the files ``cached_files`` in ``directory``; returns facts of the
        making for the results. Nothing by default."""
        return {}

    def preparation(self, directory: Path, budget_bits: float, made: dict) -> Preparation:
        """What :meth:`prepare` wrote into ``directory`` (``made``: its facts, empty when
        the files were kept from an earlier run). The whole budget goes to the weights by default."""
        return Preparation(weight_bits=budget_bits)

    def fit_jobs(self, source, videos: Sequence[int], weight_bits: float,
                 per_video: bool | None = None) -> list[FitJob]:
        """The networks to fit, whose weights may use ``weight_bits``; none by default."""
        return []

    def fit_context(self, preparation: Preparation) -> dict:
        """What the fitted networks render with besides themselves."""
        return {}

    def render_fitted(self, networks, jobs: Sequence[FitJob], layout: BitstreamLayout,
                      context: dict, device="cpu") -> Iterator[np.ndarray]:
        """Every video as the fitted ``networks`` render it before coding (codecs that fit)."""
        raise NotImplementedError(f"{self.name} fits no networks")

    # ---- the bitstream -----------------------------------------------------------------
    @abstractmethod
    def encode(self, source, videos: Sequence[int], target_bpp: float, preparation: Preparation,
               jobs: Sequence[FitJob], networks: Sequence, workers: int = 1) -> Encoded:
        """The bitstream of ``videos`` of ``source`` at about ``target_bpp`` (bits per pixel),
        from the fitted ``networks`` of ``jobs`` where the codec fits any."""

    @abstractmethod
    def check_header(self, bitstream: Bitstream):
        """Check the whole header before decoding; BitstreamError naming the field when it
        is malformed (a file is decoded from its header alone, see toolkit.codecs.decoding)."""

    @abstractmethod
    def decompress(self, bitstream: Bitstream, device="cpu") -> Iterator[np.ndarray]:
        """Every video of the bitstream, in order, as (T, H, W, 3) uint8."""
