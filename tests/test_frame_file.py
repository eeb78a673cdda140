"""The bounded-memory data path: frame files and keyframes read on demand."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import moving_frames
from toolkit.codecs.inr.keyframes import (keyframe_indices, keyframe_rows, keyframes_by_index,
                                           load_keyframes, save_keyframes)
from toolkit.data.frame_file import FrameFile, write_frame_file
from toolkit.data.source import Source, SourceWriter, VideoRecord
from toolkit.engine.datasets import SourceClips

LENGTHS = [9, 8, 3, 17]


@pytest.fixture(scope="module")
def source_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=32, width=64, fps=2,
                          classes=["a"])
    records = []
    for i, length in enumerate(LENGTHS):
        writer.write_video(f"a/v{i}.mkv", moving_frames(length, 32, 64, seed=i))
        records.append(VideoRecord(f"a/v{i}.mkv", 0, "train" if i != 2 else "test", length))
    writer.finalize(records)
    source = Source(root / "raw")
    write_frame_file(root / "frames.npy", source, workers=2)
    save_keyframes(root / "keyframes.npz",
                   [source.read_video(v)[keyframe_indices(v.num_frames, 8)] for v in source.videos])
    return root


def test_frame_file_holds_every_frame_in_manifest_order(source_root):
    source = Source(source_root / "raw")
    frames = FrameFile(source_root / "frames.npy")
    expected = np.concatenate([source.read_video(v) for v in source.videos])
    assert frames.shape == expected.shape
    assert np.array_equal(np.load(source_root / "frames.npy"), expected)  # a plain .npy
    assert np.array_equal(frames[[3, 4, 5, 33, 0]], expected[[3, 4, 5, 33, 0]])  # span and scattered
    assert np.array_equal(frames[36], expected[36])
    with pytest.raises(IndexError, match="out of range"):
        frames[[len(expected)]]


def test_keyframes_saved_a_video_at_a_time_load_as_np_savez_would(source_root):
    with np.load(source_root / "keyframes.npz") as stored:
        assert list(stored["counts"]) == [len(keyframe_indices(n, 8)) for n in LENGTHS]
        expected = stored["frames"]
    frames, rows = keyframe_rows(source_root / "keyframes.npz", LENGTHS, 8)
    assert np.array_equal(frames[list(range(len(frames)))], expected)
    assert rows[1] == {0: 2, 7: 3}  # video 1 (8 frames): keyframes 0 and 7 after video 0's 0 and 8
    # the in-memory views over the same file
    assert np.array_equal(np.concatenate(load_keyframes(source_root / "keyframes.npz")), expected)
    assert np.array_equal(keyframes_by_index(source_root / "keyframes.npz", LENGTHS, 8)[1][7], expected[3])


@pytest.mark.parametrize("videos", [None, [3, 1]])
def test_clips_from_the_frame_file_equal_clips_held_in_memory(source_root, videos, tmp_path):
    keyframes = source_root / "keyframes.npz"
    if videos is not None:  # keyframes of the selected videos, in their order
        source = Source(source_root / "raw")
        keyframes = tmp_path / "keyframes.npz"
        save_keyframes(keyframes, [source.read_video(source.videos[i])[keyframe_indices(LENGTHS[i], 8)]
                                   for i in videos])
    args = dict(keyframes=str(keyframes), videos=videos)
    held = SourceClips(str(source_root), **args)
    read = SourceClips(str(source_root), frame_file=str(source_root / "frames.npy"), **args)
    assert len(held) == len(read)
    for i in range(len(held)):
        a, b = held[i]["inputs"], read[i]["inputs"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_worker_receives_no_frames(source_root):
    """What a DataLoader worker is sent does not grow with the source (memory bounded by the
    batch): the in-memory dataset pickles every frame, the file-backed one none."""
    args = dict(keyframes=str(source_root / "keyframes.npz"))
    held = SourceClips(str(source_root), **args)
    read = SourceClips(str(source_root), frame_file=str(source_root / "frames.npy"), **args)
    frame_bytes = sum(LENGTHS) * 32 * 64 * 3
    assert len(pickle.dumps(held)) > frame_bytes
    assert len(pickle.dumps(read)) < frame_bytes / 4
    clone = pickle.loads(pickle.dumps(read))
    assert torch.equal(clone[2]["inputs"]["frames"], held[2]["inputs"]["frames"])


def test_a_frame_file_of_another_source_or_truncated_is_refused(source_root, tmp_path):
    other = tmp_path / "other.npy"
    np.save(other, np.zeros((5, 32, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="delete the frame file"):
        SourceClips(str(source_root), keyframes=str(source_root / "keyframes.npz"),
                    frame_file=str(other))
    cut = tmp_path / "cut.npy"
    cut.write_bytes((source_root / "frames.npy").read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated frame file"):
        FrameFile(cut)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 32, 64), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\) uint8"):
        FrameFile(wrong)
