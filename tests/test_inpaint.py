"""The inpainting benchmark: masks, masked datasets, the mask-aware loss, the tool end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import moving_frames
from toolkit.cli import inpaint_eval
from toolkit.data.source import Source, SourceWriter, VideoRecord
from toolkit.engine.config import ConfigError
from toolkit.tasks.inpaint import (MaskedSourceClips, MaskedSourceFrames, MaskError, MaskSet,
                                   MaskSpec, draw_boxes, parse_models, prepare_masks,
                                   region_psnr, score_video, visible_mask)
from toolkit.tasks.inpaint.data import save_masked_keyframes

REPO = Path(__file__).resolve().parents[1]
CPU_DEMO = REPO / "configs" / "inpaint" / "cpu_demo.py"

H, W, FRAMES, VIDEOS, BOX = 32, 40, 8, 3, 8
MODELS = ("nerv", "nerv_shared", "dnerv", "ffnerv")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=H, width=W, fps=2,
                          classes=["left", "right"])
    records = []
    for i in range(VIDEOS):
        path = f"{'left' if i % 2 == 0 else 'right'}/v{i}.mkv"
        writer.write_video(path, moving_frames(FRAMES, H, W, seed=i))
        records.append(VideoRecord(path, i % 2, "test", FRAMES))
    writer.finalize(records)
    return root


def spec(**changes) -> MaskSpec:
    return MaskSpec(**{**dict(num_boxes=5, box_size=BOX, seed=0), **changes})


# ---- masks -------------------------------------------------------------------------------

def test_masks_are_deterministic_per_seed_and_video():
    boxes = draw_boxes(spec(), 3, FRAMES, H, W)
    assert np.array_equal(boxes, draw_boxes(spec(), 3, FRAMES, H, W))
    assert not np.array_equal(boxes, draw_boxes(spec(seed=1), 3, FRAMES, H, W))
    assert not np.array_equal(boxes, draw_boxes(spec(), 4, FRAMES, H, W))


@pytest.mark.parametrize("per_frame", [True, False])
def test_mask_geometry(per_frame):
    boxes = draw_boxes(spec(per_frame=per_frame), 0, FRAMES, H, W)
    assert boxes.shape == (FRAMES, 5, 4)
    top, left, height, width = boxes.transpose(2, 0, 1)
    assert (height == BOX).all() and (width == BOX).all()
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + height <= H).all() and (left + width <= W).all()
    same_every_frame = all(np.array_equal(boxes[0], b) for b in boxes)
    assert same_every_frame != per_frame
    visible = visible_mask(boxes, H, W)
    for frame, frame_boxes in zip(visible, boxes):
        for t, l, h, w in frame_boxes:
            assert not frame[t:t + h, l:l + w].any()
        hidden = (~frame).sum()
        assert BOX * BOX <= hidden <= 5 * BOX * BOX


def test_box_size_scales_from_the_reference_size():
    paper = MaskSpec(box_size=50, reference_size=(384, 768))
    assert paper.box_side(384, 768) == 50
    assert paper.box_side(256, 320) == 26          # same hidden fraction of the frame
    assert MaskSpec(box_size=50).box_side(256, 320) == 50
    with pytest.raises(MaskError, match="do not fit"):
        MaskSpec(box_size=40).box_side(H, W)
    with pytest.raises(MaskError, match="unknown masks settings"):
        MaskSpec.from_config(dict(boxes=3), seed=0)


def test_masks_file_round_trip_and_mismatch(tmp_path):
    path = tmp_path / "masks.json"
    drawn = prepare_masks(path, spec(), H, W, {0: FRAMES, 2: 5})
    loaded = MaskSet.load(path)
    assert np.array_equal(loaded.visible(2), drawn.visible(2))
    assert loaded.visible(2).shape == (5, H, W)
    prepare_masks(path, spec(), H, W, {0: FRAMES, 2: 5})           # same masks: accepted
    with pytest.raises(MaskError, match="other masks"):
        prepare_masks(path, spec(seed=1), H, W, {0: FRAMES, 2: 5})


# ---- masked datasets ---------------------------------------------------------------------

def test_masked_frames_hide_pixels_and_carry_the_mask(data_root, tmp_path):
    masks_path = tmp_path / "masks.json"
    masks = prepare_masks(masks_path, spec(fill=7), H, W, {i: FRAMES for i in range(VIDEOS)})
    dataset = MaskedSourceFrames(str(data_root), str(masks_path), videos=[1, 2])
    original = Source.open(data_root, "raw")
    sample = dataset[FRAMES + 3]["inputs"]                        # video 2, frame 3
    visible = masks.visible(2)[3]
    frame = sample["frame"].permute(1, 2, 0).numpy()
    assert sample["mask"].shape == (1, H, W)
    assert torch.equal(sample["mask"][0].bool(), torch.from_numpy(visible))
    assert (frame[~visible] == 7).all()
    reference = original.read_video(original.videos[2])[3]
    assert np.array_equal(frame[visible], reference[visible])


def test_masked_clips_mask_frames_and_keyframes(data_root, tmp_path):
    masks_path = tmp_path / "masks.json"
    masks = prepare_masks(masks_path, spec(), H, W, {i: FRAMES for i in range(VIDEOS)})
    source = Source.open(data_root, "raw")
    keyframes = tmp_path / "keyframes.npz"
    save_masked_keyframes(keyframes, source, [0], masks, clip_len=4)
    dataset = MaskedSourceClips(str(data_root), str(keyframes), str(masks_path), videos=[0],
                                clip_len=4)
    inputs = dataset[1]["inputs"]                                 # frames 4..7, keys 4 and 7
    visible = masks.visible(0)
    assert inputs["mask"].shape == (4, 1, H, W)
    assert torch.equal(inputs["mask"][:, 0].bool(), torch.from_numpy(visible[4:8]))
    frames = inputs["frames"].permute(0, 2, 3, 1).numpy()
    assert (frames[~visible[4:8]] == 128).all()
    keys = inputs["keyframes"].permute(0, 2, 3, 1).numpy()
    assert (keys[0][~visible[4]] == 128).all() and (keys[1][~visible[7]] == 128).all()
    original = source.read_video(source.videos[0])
    assert np.array_equal(keys[1][visible[7]], original[7][visible[7]])


# ---- the mask-aware loss -----------------------------------------------------------------

def _fit_model_batch(kind: str):
    from toolkit.engine.models import DNeRVFitModel, FFNeRVFitModel, NeRVFitModel

    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 3, H, W), dtype=torch.uint8, generator=gen)
    mask = torch.from_numpy(visible_mask(draw_boxes(spec(), 0, 2, H, W), H, W)[:, None]).float()
    if kind == "nerv":
        model = NeRVFitModel(dict(type="NeRV", height=H, width=W, channels=4, pe_levels=4,
                                  mlp_hidden=16, min_channels=4))
        return model, dict(frame=frames, index=torch.tensor([0, 1]), total=torch.tensor([2, 2]), mask=mask)
    if kind == "ffnerv":
        model = FFNeRVFitModel(dict(type="FFNeRV", height=H, width=W, num_frames=4, channels=4,
                                    min_channels=4, groups=2))
        return model, dict(frame=frames, frame_index=torch.tensor([0, 1]), mask=mask)
    model = DNeRVFitModel(dict(type="DNeRV", height=H, width=W, fc_dim=4, clip_len=2,
                               pe_levels=4, mlp_hidden=16, min_width=4, encoder_dim=4))
    return model, dict(frames=frames[None], valid=torch.tensor([[True, True]]),
                       keyframes=frames[None], t=torch.tensor([[0.0, 1.0]]),
                       end_weight=torch.tensor([[0.0, 1.0]]), mask=mask[None])


@pytest.mark.parametrize("kind", ["nerv", "dnerv", "ffnerv"])
def test_hidden_pixels_get_no_gradient(kind):
    model, inputs = _fit_model_batch(kind)
    pred, target, valid, extra = model.render(inputs)
    pred.retain_grad()
    model.compute_loss(pred, target, valid, extra, inputs["mask"].float()).backward()
    hidden = (inputs["mask"] == 0).expand_as(pred)
    assert hidden.any()
    assert (pred.grad[hidden] == 0).all()
    assert pred.grad[~hidden].abs().sum() > 0


# ---- scores ------------------------------------------------------------------------------

def test_scores_separate_hidden_and_visible_areas():
    original = np.full((2, H, W, 3), 100, dtype=np.uint8)
    visible = visible_mask(draw_boxes(spec(), 0, 2, H, W), H, W)
    filled = original.copy()
    filled[~visible] = 110                                     # error only in the holes
    expected = 10 * np.log10(255 ** 2 / 10 ** 2)
    assert region_psnr(filled, original, ~visible) == pytest.approx([expected] * 2)
    scores = score_video(original, filled, visible)
    assert scores["psnr_hidden"] == pytest.approx(expected)
    assert scores["psnr_visible"] == pytest.approx(120.0)      # exact: the clamped maximum
    assert expected < scores["psnr_full"] < 120.0


def test_unknown_model_names_list_the_models(data_root, capsys):
    with pytest.raises(ConfigError, match="available: nerv, dnerv"):
        parse_models("nerv,vit", ["nerv", "dnerv"])
    assert parse_models(None, ["nerv", "dnerv"]) == ["nerv", "dnerv"]
    assert inpaint_eval.main(["--source-root", str(data_root), "--models", "nerv,unet"]) == 2
    message = capsys.readouterr().err
    assert "unet" in message and "nerv, nerv_shared, dnerv, ffnerv" in message


# ---- the tool ----------------------------------------------------------------------------

def run_tool(data_root: Path, work_dir: Path, *flags: str, options: tuple[str, ...] = ()) -> int:
    options = ["fit.max_epochs=2", "fit.checkpoint_interval=10", "num_videos=None",
               f"masks.box_size={BOX}", "models.nerv.fit.batch_size=8",
               "models.ffnerv.fit.batch_size=8", *options]
    return inpaint_eval.main([str(CPU_DEMO), "--source-root", str(data_root),
                              "--work-dir", str(work_dir), "--models", ",".join(MODELS),
                              *flags, "--cfg-options", *options])


def test_tool_end_to_end_and_resume(data_root, tmp_path):
    work = tmp_path / "work"
    assert run_tool(data_root, work) == 0
    results = json.loads((work / "results.json").read_text())
    paths = [v["path"] for v in results["videos"]]
    assert len(paths) == VIDEOS and list(results["models"]) == list(MODELS)
    for name, model in results["models"].items():
        assert set(model["per_video"]) == set(paths)
        assert all(np.isfinite(v) for s in model["per_video"].values() for v in s.values())
        assert model["mean"]["psnr_hidden"] == pytest.approx(
            np.mean([s["psnr_hidden"] for s in model["per_video"].values()]))
        assert len(model["jobs"]) == (VIDEOS if name in ("nerv", "ffnerv") else 1)
    table = (work / "results.md").read_text()
    assert all(f"| {name} |" in table for name in MODELS) and "left/v0" in table
    panels = sorted((work / "panels").glob("*.png"))
    assert len(panels) == VIDEOS and all(p.read_bytes()[:4] == b"\x89PNG" for p in panels)
    assert MaskSet.load(work / "masks.json").visible(0).shape == (FRAMES, H, W)

    # an interrupted fit: its final network is gone, its last checkpoint is there
    (work / "nerv" / "fit" / "video_00001" / "network_final.pth").unlink()
    (work / "results.json").unlink()
    assert run_tool(data_root, work, "--resume") == 0
    again = json.loads((work / "results.json").read_text())
    reused = {j["job"]: j["reused"] for j in again["models"]["nerv"]["jobs"]}
    assert reused == {"video_00000": True, "video_00001": False, "video_00002": True}
    assert all(j["reused"] for name in MODELS if name != "nerv"
               for j in again["models"][name]["jobs"])
    assert again["models"]["nerv"]["mean"] == pytest.approx(results["models"]["nerv"]["mean"])

    # other masks in the same work directory are refused
    assert run_tool(data_root, work, options=("seed=1",)) == 2


def test_hidden_target_pixels_do_not_reach_loss_or_gradients():
    """With the SSIM term, hidden targets must not leak in through a visible pixel's window."""
    import torch

    from toolkit.engine.models import NeRVFitModel

    torch.manual_seed(0)
    model = NeRVFitModel(dict(type="NeRV", height=32, width=40, channels=4, mlp_hidden=16,
                              pe_levels=4))
    frames = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8)
    mask = torch.ones(2, 1, 32, 40)
    mask[:, :, 8:20, 10:30] = 0
    altered = frames.clone()
    altered[:, :, 8:20, 10:30] = 255 - altered[:, :, 8:20, 10:30]

    def loss_and_grads(target):
        model.zero_grad()
        loss = model(dict(frame=target, index=torch.tensor([0, 1]), total=torch.tensor([2, 2]), mask=mask),
                     mode="loss")["loss"]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss_a, grads_a = loss_and_grads(frames)
    loss_b, grads_b = loss_and_grads(altered)
    assert torch.equal(loss_a, loss_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
