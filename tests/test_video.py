"""Lossless round trip, random access, and clear errors on damaged files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import moving_frames
from toolkit.data.video import VideoError, VideoReader, iter_frames, probe, read_video, write_video


def test_lossless_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 40, 56, 3), dtype=np.uint8)  # noise: nothing to hide behind
    path = write_video(tmp_path / "noise.mkv", frames, fps=2)
    assert np.array_equal(read_video(path), frames)
    info = probe(path)
    assert (info.num_frames, info.height, info.width, info.fps) == (6, 40, 56, 2.0)


def test_random_access_matches_sequential(tmp_path):
    frames = moving_frames(9, 32, 48)
    path = write_video(tmp_path / "clip.mkv", frames, fps=2)
    reader = VideoReader(path, expected_frames=9)
    assert np.array_equal(reader.get_frames([8, 0, 4, 4]), frames[[8, 0, 4, 4]])
    with pytest.raises(IndexError, match="out of range"):
        reader.get_frames([9])


def test_names_with_spaces_and_bang(tmp_path):
    frames = moving_frames(3, 16, 16)
    path = write_video(tmp_path / "dir with space!" / "a b!c.mkv", frames, fps=2)
    assert np.array_equal(VideoReader(path).get_frames([0, 1, 2]), frames)


def test_write_is_atomic_and_validates(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "bad.mkv", np.zeros((2, 8, 8, 3), np.float32), fps=2)
    assert list(tmp_path.iterdir()) == []


def damaged_copies(src, tmp_path):
    data = src.read_bytes()
    half = tmp_path / f"half{src.suffix}"
    half.write_bytes(data[: len(data) // 2])
    overwritten = bytearray(data)
    rng = np.random.default_rng(1)
    for i in range(len(data) // 4, 3 * len(data) // 4, 997):
        overwritten[i:i + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    corrupt = tmp_path / f"corrupt{src.suffix}"
    corrupt.write_bytes(bytes(overwritten))
    empty = tmp_path / f"empty{src.suffix}"
    empty.write_bytes(b"")
    return {"half": half, "corrupt": corrupt, "empty": empty}


def assert_clear_error(path):
    with pytest.raises(VideoError) as info:
        read_video(path)
    assert str(path) in str(info.value)


def test_damaged_lossless_files_raise(tmp_path):
    src = write_video(tmp_path / "orig.mkv", moving_frames(8, 48, 64), fps=2)
    for path in damaged_copies(src, tmp_path).values():
        assert_clear_error(path)


def test_missing_and_not_a_video(tmp_path):
    assert_clear_error(tmp_path / "nope.mkv")
    text = tmp_path / "notes.avi"
    text.write_text("not a video at all\n" * 50)
    assert_clear_error(text)


def test_damaged_real_clips_raise(shared_data, tmp_path):
    clips = [next((shared_data / "ucf101_mini" / "UCF-101" / "PushUps").glob("*.avi")),
             next((shared_data / "hmdb51_mini").glob("*/*.mp4"))]
    for clip in clips:
        assert len(list(iter_frames(clip))) == probe(clip).num_frames  # intact: reads cleanly
        local = tmp_path / clip.name
        shutil.copy(clip, local)
        for path in damaged_copies(local, tmp_path).values():
            assert_clear_error(path)


def test_real_clip_with_bang_in_name(shared_data):
    clip = next(p for p in (shared_data / "hmdb51_mini").glob("*/*.mp4") if "!" in p.name)
    info = probe(clip)
    assert VideoReader(clip).get_frames([0, info.num_frames - 1]).shape[0] == 2


def test_decord_width_defect_is_detected_and_reader_falls_back(tmp_path):
    from toolkit.data.source import SourceError, SourceWriter
    from toolkit.data.video import decord_reads_size

    assert decord_reads_size(32, 40) and not decord_reads_size(32, 48)
    frames = moving_frames(4, 32, 48)
    path = write_video(tmp_path / "w48.mkv", frames, fps=2)
    assert np.array_equal(VideoReader(path).get_frames([3, 1]), frames[[3, 1]])
    with pytest.raises(SourceError, match="width of 40, 64, 80"):
        SourceWriter(tmp_path / "s", "raw", codec="raw", size=None, height=32, width=48, fps=2,
                     classes=["a"])


def test_video_error_survives_pickling():
    """Worker processes send errors back pickled; a broken round trip kills the whole pool."""
    import pickle

    error = pickle.loads(pickle.dumps(VideoError("/x/a b.avi", "truncated", "fix it")))
    assert str(error) == "/x/a b.avi: truncated; fix it" and error.problem == "truncated"
