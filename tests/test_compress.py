"""The compression stage end to end on a tiny source, for every codec."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import moving_frames
from toolkit.cli import compress_dataset
from toolkit.codecs.bitstream import BitstreamError, read_bitstream
from toolkit.codecs.layout import BitstreamLayout
from toolkit.data.source import Source, SourceWriter, VideoRecord


TINY_NETWORKS = {
    "nerv": ["codec.network.channels=4", "codec.network.mlp_hidden=16", "codec.network.pe_levels=8"],
    "dnerv": ["codec.network.fc_dim=4", "codec.network.mlp_hidden=16", "codec.network.pe_levels=8",
              "codec.network.min_width=4", "codec.network.encoder_dim=4"],
    "ffnerv": ["codec.network.channels=4", "codec.network.min_channels=4", "codec.network.groups=2"],
    "h264": [], "hevc": [],
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=32, width=64, fps=2,
                          classes=["left", "right"])
    records = []
    for i, length in enumerate([9, 8, 3]):  # clip boundary, exact clip, short video
        path = f"{'left' if i % 2 == 0 else 'right'}/v{i}.mkv"
        writer.write_video(path, moving_frames(length, 32, 64, seed=i))
        records.append(VideoRecord(path, i % 2, "train" if i < 2 else "test", length))
    writer.finalize(records)
    return root


def run_tool(data_root: Path, codec: str, work_dir: Path, *extra: str, size: str = "M") -> int:
    flags = [e for e in extra if e.startswith("--") or e.endswith(".py")]  # flags, config file
    fit = ["fit.max_epochs=1", "fit.batch_size=4", "fit.num_workers=0"] if TINY_NETWORKS[codec] else []
    options = [*fit, "throughput.repeats=1", "throughput.dtypes=[float32]", "workers=1",
               *TINY_NETWORKS[codec], *[e for e in extra if e not in flags]]
    return compress_dataset.main(["--source-root", str(data_root), "--codec", codec, "--size", size,
                                  "--work-dir", str(work_dir), *flags, "--cfg-options", *options])


@pytest.mark.parametrize("codec", ["nerv", "dnerv", "ffnerv", "h264", "hevc"])
def test_end_to_end_bpp_from_file(codec, data_root, tmp_path):
    assert run_tool(data_root, codec, tmp_path / codec) == 0
    results = json.loads((tmp_path / codec / "results.json").read_text())
    bits = Path(results["bitstream"]["path"])
    assert results["bitstream"]["bytes"] == bits.stat().st_size
    assert results["bpp"] == pytest.approx(bits.stat().st_size * 8 / (32 * 64 * 20))
    decoded = Source.open(data_root, f"{codec}_M")
    raw = Source.open(data_root, "raw")
    assert [v.num_frames for v in decoded.videos] == [v.num_frames for v in raw.videos]
    assert decoded.manifest["bpp"] == results["bpp"] and decoded.manifest["codec"] == codec
    frames = decoded.read_video(decoded.videos[0])
    assert frames.shape == (9, 32, 64, 3)
    assert np.isfinite(results["psnr"]) and 0 < results["ms_ssim"] <= 1


@pytest.mark.parametrize("codec", ["nerv", "dnerv", "ffnerv"])
def test_decoded_frames_equal_quantised_model_output(codec, data_root, tmp_path):
    """The source written by the decoder is exactly what the encoder's quantised model renders."""
    from toolkit.codecs.inr.codec import FitJob
    from toolkit.engine.config import build_codec

    work = tmp_path / codec
    assert run_tool(data_root, codec, work) == 0
    bits_file = work / f"{codec}_M.bits"
    bitstream = read_bitstream(bits_file)
    codec_obj = build_codec(dict(type=codec, **{k: v for k, v in bitstream.header.items()
                                                if k in ("clip_len",)}))
    header = bitstream.header
    fitted = []
    for (job_videos, network_cfg), fit_dir in zip(zip(header["jobs"], header["networks"]),
                                                   sorted((work / "fit").iterdir())):
        from toolkit.engine.fit import fit_model_network

        job = FitJob(fit_dir.name, job_videos, network_cfg)
        network = fit_model_network(codec_obj, job)
        network.load_state_dict(torch.load(fit_dir / "network_final.pth", weights_only=True))
        fitted.append((job, network))
    layout = BitstreamLayout.from_header(header)
    _, quantised = codec_obj.compress([n for _, n in fitted], [j for j, _ in fitted], layout)
    context = codec_obj.decode_context(bitstream)
    rendered = list(codec_obj.render(quantised, header, context, "cpu"))
    decoded = Source.open(data_root, f"{codec}_M")
    for frames, video in zip(rendered, decoded.videos):
        assert np.array_equal(frames, decoded.read_video(video))
    # two decodes of the file are bit-identical
    first = list(codec_obj.decompress(bitstream))
    second = list(codec_obj.decompress(read_bitstream(bits_file)))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_corrupt_bitstream_is_refused(data_root, tmp_path):
    assert run_tool(data_root, "nerv", tmp_path / "nerv") == 0
    path = tmp_path / "nerv" / "nerv_M.bits"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken = tmp_path / "broken.bits"
    broken.write_bytes(bytes(data))
    with pytest.raises(BitstreamError, match="checksum"):
        read_bitstream(broken)
    broken.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(BitstreamError, match="truncated"):
        read_bitstream(broken)


def _register_stop_hook():
    """A hook that simulates a run killed after an epoch (its checkpoint written first)."""
    from mmengine.hooks import Hook

    from toolkit.registry import HOOKS

    if "StopAfterEpoch" in HOOKS.module_dict:
        return

    @HOOKS.register_module()
    class StopAfterEpoch(Hook):
        priority = "LOWEST"  # after the checkpoint hook

        def __init__(self, epoch: int):
            self.epoch = epoch

        def after_train_epoch(self, runner):
            if runner.epoch + 1 >= self.epoch:  # runner.epoch counts finished epochs after this hook
                raise KeyboardInterrupt(f"stopped after epoch {self.epoch}")


def test_resume_continues_from_checkpoint(data_root, tmp_path):
    _register_stop_hook()
    work = tmp_path / "nerv"
    options = ["fit.max_epochs=3", "fit.checkpoint_interval=1"]
    interrupted = tmp_path / "interrupted.py"  # the same config plus a hook that "kills" the run
    interrupted.write_text(f"_base_ = [{str(compress_dataset.find_config('compress', 'nerv'))!r}]\n"
                           "fit = dict(custom_hooks=[dict(type='StopAfterEpoch', epoch=1)])\n")
    with pytest.raises(KeyboardInterrupt):
        run_tool(data_root, "nerv", work, str(interrupted), *options)
    fit_dir = work / "fit" / "shared"
    assert (fit_dir / "epoch_1.pth").is_file() and not (fit_dir / "network_final.pth").exists()
    assert run_tool(data_root, "nerv", work, *options, "--resume") == 0
    log = sorted(fit_dir.glob("*/*.log"))[-1].read_text()
    assert "resumed epoch: 1" in log
    # Both runs may start in the same second and share mmengine's timestamped log: the
    # resumed run is what follows its "resumed epoch" line.
    resumed_log = log[log.index("resumed epoch: 1"):]
    assert "Epoch(train) [2]" in resumed_log and "Epoch(train) [1]" not in resumed_log
    assert (fit_dir / "network_final.pth").is_file()


def test_clear_errors(data_root, capsys):
    assert compress_dataset.main(["--source-root", str(data_root), "--codec", "vvc"]) == 2
    assert "unknown compress config 'vvc'; available: dnerv, ffnerv, h264, hevc, nerv" in capsys.readouterr().err
    assert compress_dataset.main(["--source-root", str(data_root), "--codec", "h264", "--size", "XL"]) == 2
    assert "unknown size 'XL'; available: S, M, L" in capsys.readouterr().err
    assert compress_dataset.main(["--source-root", str(data_root), "--codec", "h264",
                                  "--source", "nope"]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err
    assert compress_dataset.main(["--source-root", str(data_root), "--codec", "h264",
                                  "--cfg-options", "fitt.max_epochs=1"]) == 2
    assert "unknown config key 'fitt.max_epochs'" in capsys.readouterr().err


def test_runner_experiment_names_are_unique(tmp_path):
    """mmengine keys its logger by experiment name: two fits in one second must not share it."""
    from mmengine.config import Config

    from toolkit.codecs.inr.codec import FitJob
    from toolkit.engine.config import build_codec
    from toolkit.engine.fit import runner_config

    cfg = Config.fromfile(str(compress_dataset.find_config("compress", "nerv")))
    codec = build_codec(cfg.codec)
    job = FitJob("shared", [0], dict(type="NeRV", height=32, width=64, channels=4))
    names = {runner_config(cfg, codec, job, tmp_path / str(i), {}).experiment_name for i in range(2)}
    assert len(names) == 2


def test_torchrun_spreads_per_video_networks_over_processes(data_root, tmp_path):
    """FFNeRV (one network per video) under torchrun: each process fits whole networks.

    Two CPU processes (gloo) share the three videos' fits; the main process then reads every
    network back and writes the same kind of bitstream and source as a single process.
    """
    import subprocess

    work = tmp_path / "ffnerv_ddp"
    options = ["fit.max_epochs=1", "fit.batch_size=4", "fit.num_workers=0", "throughput.repeats=1",
               "throughput.dtypes=[float32]", "workers=1", "output=ffnerv_spread",
               *TINY_NETWORKS["ffnerv"]]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", "29631", str(Path(__file__).resolve().parents[1] / "tools" / "compress_dataset.py"),
               "--source-root", str(data_root), "--codec", "ffnerv", "--work-dir", str(work),
               "--launcher", "pytorch", "--cfg-options", *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((work / "results.json").read_text())
    assert results["bpp"] == pytest.approx(results["bitstream"]["bytes"] * 8 / (32 * 64 * 20))
    fits = sorted((work / "fit").glob("video_*/fit.json"))
    assert len(fits) == 3
    records = [json.loads(f.read_text()) for f in fits]
    assert [r["launcher_rank"] for r in records] == [0, 1, 0]  # videos 0, 2 -> rank 0; 1 -> rank 1
    assert results["fit_time_s"] == pytest.approx(
        sum(json.loads(f.read_text())["seconds"] for f in fits))
    decoded = Source.open(data_root, "ffnerv_spread")
    assert [v.num_frames for v in decoded.videos] == [9, 8, 3]


def test_fit_time_limit_ends_the_fit_cleanly(data_root, tmp_path):
    """fit.max_time_s stops after the epoch that passes it; the result and record stay honest."""
    work = tmp_path / "nerv"
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=50", "fit.max_time_s=0.001") == 0
    record = json.loads((work / "fit" / "shared" / "fit.json").read_text())
    assert record["epochs"] == 1 and record["epochs_planned"] == 50
    results = json.loads((work / "results.json").read_text())
    assert results["fit_epochs"] == {"planned": 50, "min": 1, "max": 1}
    assert (work / "fit" / "shared" / "network_final.pth").is_file()


def test_fit_stopped_by_time_limit_continues_with_resume(data_root, tmp_path, capsys):
    """A job longer than one time slot runs in several: the stopped fit is reused as it is
    until --resume continues it from the checkpoint of the epoch it stopped at."""
    work = tmp_path / "nerv"
    fit_dir = work / "fit" / "shared"
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=3", "fit.max_time_s=0.001",
                    "fit.checkpoint_interval=10") == 0
    assert (fit_dir / "epoch_1.pth").is_file()  # saved at the stop, off the checkpoint interval
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=3", "fit.checkpoint_interval=10") == 0
    assert "it stopped at epoch 1 of 3 (fit.max_time_s), --resume continues it" in capsys.readouterr().err
    assert json.loads((fit_dir / "fit.json").read_text())["epochs"] == 1
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=3", "fit.checkpoint_interval=10",
                    "--resume") == 0
    assert "continuing the fit in" in capsys.readouterr().err
    record = json.loads((fit_dir / "fit.json").read_text())
    assert record["epochs"] == 3 and record["resumed_from"] == "epoch_1.pth"
    assert json.loads((work / "results.json").read_text())["fit_epochs"]["max"] == 3


@pytest.mark.parametrize("codec", ["nerv", "ffnerv"])
def test_fit_compile_option_reaches_the_runner(codec, data_root, tmp_path):
    """fit.compile reaches the FitModel, which compiles its training loss (here with the
    'eager' backend: the same tracing, no code generation, so it runs quickly on a CPU).
    FFNeRV's step (grids, warps, neighbour buffer, QAT) traces too: its fits are bound by
    kernel launches at batch 1, which a compiled step can cut."""
    work = tmp_path / "compiled"
    assert run_tool(data_root, codec, work, "fit.compile.enabled=True", "fit.compile.backend=eager",
                    f"output={codec}_compiled") == 0
    logs = "".join(p.read_text() for p in work.rglob("*.log"))
    assert "training loss compiled: torch.compile({'backend': 'eager'})" in logs
    assert json.loads((work / "results.json").read_text())["fit_epochs"]["min"] == 1


def test_compiled_training_loss_equals_eager():
    """D-NeRV's compiled training loss (float32 warps and SSIM inside, autocast off there)
    gives the eager loss and gradients."""
    import torch

    from toolkit.engine.models import DNeRVFitModel

    network = dict(type="DNeRV", height=32, width=40, fc_dim=4, clip_len=2, pe_levels=4,
                   mlp_hidden=16, min_width=4, encoder_dim=4)
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (1, 2, 3, 32, 40), dtype=torch.uint8, generator=gen)
    inputs = dict(frames=frames, keyframes=frames, valid=torch.tensor([[True, True]]),
                  t=torch.tensor([[0.0, 1.0]]), end_weight=torch.tensor([[0.0, 1.0]]))
    losses, grads = [], []
    for options in (None, dict(backend="aot_eager")):
        torch.manual_seed(0)
        model = DNeRVFitModel(network, compile=options)
        loss = model(inputs, mode="loss")["loss"]
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_dnerv_fit_reads_a_frame_file_above_the_limit_and_fits_the_same(data_root, tmp_path):
    """Above ``fit.max_frames_in_memory`` the fit reads frames.npy (written once in the work
    dir) instead of holding the frames; the fitted network is the same."""
    assert run_tool(data_root, "dnerv", tmp_path / "held") == 0
    assert run_tool(data_root, "dnerv", tmp_path / "read", "fit.max_frames_in_memory=19") == 0
    assert not (tmp_path / "held" / "frames.npy").exists()
    frames = np.load(tmp_path / "read" / "frames.npy")
    raw = Source.open(data_root, "raw")
    assert np.array_equal(frames, np.concatenate([raw.read_video(v) for v in raw.videos]))
    held, read = (torch.load(next((tmp_path / w / "fit").iterdir()) / "network_final.pth",
                             weights_only=True) for w in ("held", "read"))
    assert held.keys() == read.keys() and all(torch.equal(held[k], read[k]) for k in held)


def test_quiet_by_default_verbose_brings_mmengine_dumps_back(data_root, tmp_path, capsys):
    """The terminal gets the closing table; mmengine's config and hook dumps go to the log."""
    from toolkit.engine.console import set_console_verbosity

    try:
        assert run_tool(data_root, "nerv", tmp_path / "quiet", "output=nerv_quiet") == 0
        quiet = capsys.readouterr().out
        logs = "".join(p.read_text() for p in (tmp_path / "quiet").rglob("*.log"))
        assert "Hooks will be executed" in logs and "Config:" in logs
        assert "Hooks will be executed" not in quiet and "Config:" not in quiet
        assert "PSNR (dB)" in quiet and len(quiet.splitlines()) < 20
        assert run_tool(data_root, "nerv", tmp_path / "verbose", "--verbose", "output=nerv_verbose") == 0
        verbose = capsys.readouterr().out
        assert "Hooks will be executed" in verbose and "Config:" in verbose
    finally:
        set_console_verbosity(False)


def _bending_backend(bend):
    """A torch.compile backend that runs the captured graph but bends the gradient of every
    output that has one (the value stays): a stand-in for a miscompiled backward."""
    def backend(graph, example_inputs):
        def run(*args):
            return type(out := graph(*args))(
                bend(o) if isinstance(o, torch.Tensor) and o.requires_grad else o for o in out)
        return run
    return backend


def _tiny_nerv_batch():
    from toolkit.engine.models import NeRVFitModel

    torch.manual_seed(0)
    model = NeRVFitModel(dict(type="NeRV", height=32, width=40, channels=4, pe_levels=4,
                              mlp_hidden=16, min_channels=4))
    frames = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8)
    return model, dict(frame=frames, index=torch.tensor([0, 1]), total=torch.tensor([2, 2]))


@pytest.mark.parametrize("bend, why", [
    (lambda o: o.detach() + 0 * o, "get no, zero or non-finite gradients where eager's are not"),
    (lambda o: o.detach() + float("nan") * o, "get no, zero or non-finite gradients"),
    (lambda o: 2 * o.detach() - o, r"point elsewhere than eager's \(cosine -1.00\)")])
def test_compiled_step_with_wrong_gradients_stops_the_fit_on_the_first_batch(bend, why):
    """Compiled on an H200, FFNeRV's step gave its quantised weights zero gradients and fitted
    nothing for a whole fit: a compiled step is now checked against eager on its first batch
    and stops with a one-line ConfigError, before any optimizer step."""
    from toolkit.engine.config import ConfigError
    from toolkit.engine.models import NeRVFitModel

    model, inputs = _tiny_nerv_batch()
    model = NeRVFitModel(model.network_cfg, compile=dict(backend=_bending_backend(bend)))
    with pytest.raises(ConfigError, match=f"fit.compile: .*{why}.*checked against the eager step "
                                          f"on the same batch.*fit.compile.enabled=False"):
        model(inputs, mode="loss")
    assert all(p.grad is None for p in model.parameters())


def test_compiled_loss_check_finds_one_parameter_pointing_elsewhere_and_new_shapes():
    """One parameter's gradient reversed (a small share of the whole vector) is caught by the
    per-parameter cosine; a batch of a new shape (a new graph) is checked again."""
    from toolkit.engine.config import ConfigError
    from toolkit.engine.models import CompiledLossChecked

    weights = [torch.nn.Parameter(torch.ones(200)), torch.nn.Parameter(torch.ones(3))]
    named = lambda: [("big", weights[0]), ("small", weights[1])]  # noqa: E731

    def eager(inputs):
        return (weights[0] * inputs["x"][:200]).sum() + (weights[1] * inputs["x"][:3]).sum()

    def reversed_small(inputs):
        small = weights[1].detach() * 2 - weights[1]  # the value, the gradient reversed
        return (weights[0] * inputs["x"][:200]).sum() + (small * inputs["x"][:3]).sum()

    # 1.5 % of the squared norm: the whole vector's cosine stays near 0.97
    with pytest.raises(ConfigError, match=r"gradient of small points elsewhere .*cosine -1.00"):
        CompiledLossChecked(reversed_small, eager, named)(dict(x=torch.ones(200)))
    calls = []
    checked = CompiledLossChecked(lambda inputs: calls.append(1) or eager(inputs), eager, named)
    for size in (200, 200, 240, 240):
        checked(dict(x=torch.rand(size) + 1))
    assert len(checked.checked) == 2 and len(calls) == 4 + 2  # one check per new shape


def _check_in_process(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from toolkit.engine.config import ConfigError
    from toolkit.engine.models import CompiledLossChecked

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    weight = torch.nn.Parameter(torch.ones(4))

    def eager(inputs):
        return (weight * inputs["x"]).sum()

    def zero_gradient(inputs):  # rank 1's compiled step is wrong, rank 0's is right
        return eager(inputs).detach() + 0 * eager(inputs)

    checked = CompiledLossChecked(zero_gradient if rank else eager, eager,
                                  lambda: [("weight", weight)], across_processes=True)
    try:
        checked(dict(x=torch.ones(4)))
        result = "passed"
    except ConfigError as error:
        result = str(error)
    Path(out, f"rank{rank}").write_text(result)
    dist.destroy_process_group()


def test_compiled_loss_check_stops_every_process_when_one_disagrees(tmp_path):
    """Under DDP each process checks its own batch: one that disagrees stops them all, so
    none is left waiting in the backward's all-reduce."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_check_in_process, args=(port, str(tmp_path)), nprocs=2)
    assert "another process's batch disagreed" in (tmp_path / "rank0").read_text()
    assert "zero or non-finite gradients" in (tmp_path / "rank1").read_text()


def test_compiled_quantised_ffnerv_step_passes_the_first_batch_check():
    """The real case: FFNeRV under 8-bit QAT, compiled through AOTAutograd, passes the check
    (on its probe, whose neighbours give the flow head a gradient too) and gives eager's
    gradients."""
    from toolkit.engine.models import FFNeRVFitModel

    frames = torch.randint(0, 256, (1, 3, 32, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    grads = []
    for options in (None, dict(backend="aot_eager")):
        torch.manual_seed(0)
        model = FFNeRVFitModel(dict(type="FFNeRV", height=32, width=64, num_frames=4, channels=8,
                                    min_channels=4, groups=2), compile=options)
        model(dict(frame=frames, frame_index=torch.tensor([1])), mode="loss")["loss"].backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert len(model.training_loss.checked) == 1
    assert grads[0].keys() == grads[1].keys() and any(bool(g.any()) for g in grads[0].values())
    for name, eager in grads[0].items():
        torch.testing.assert_close(grads[1][name], eager, rtol=1e-4, atol=1e-6, msg=name)
    # the probe's neighbours reach the flow head, which an empty buffer would leave at zero
    # (the fit fills the buffer before its first step: then the batch's own neighbours do too)
    flow = [p for n, p in model.named_parameters() if n.startswith("network.flow_head")]

    def flow_moves(batch):
        gradient = torch.autograd.grad(model._training_loss(batch)[0], flow, allow_unused=True)
        return any(g is not None and bool(g.any()) for g in gradient)

    filled = model._with_neighbours(dict(frame=frames, frame_index=torch.tensor([1])))
    model.buffer.frames.zero_()
    empty = model._with_neighbours(dict(frame=frames, frame_index=torch.tensor([1])))
    assert flow_moves(filled) and not flow_moves(empty)
    assert flow_moves(model.compile_check_inputs(empty))


