"""Shared fixtures: tiny generated videos, and the real clips in ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get("TOOLKIT_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


def moving_frames(num_frames: int, height: int, width: int, seed: int = 0, speed: int = 2) -> np.ndarray:
    """Smooth textured frames translating right by ``speed`` pixels per frame (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, (height // 4 + 2, (width + speed * num_frames) // 4 + 2, 3)).astype(np.float32)
    import cv2

    big = cv2.resize(big, (big.shape[1] * 4, big.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    frames = [big[:height, t * speed:t * speed + width] for t in range(num_frames)]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def one_line_error(capsys, *needles: str) -> str:
    """A tool's stderr: exactly one line starting with 'error:', holding every needle."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test clips not found at {SHARED_DATA} (set TOOLKIT_SHARED_DATA)")
    return SHARED_DATA
