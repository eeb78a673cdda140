"""Codec recipes (configs/_base_/recipes/): compression and inpainting fit each INR codec the
same way, the recipes reach the tools only through what the configs build from them, and
--cfg-options reach the built settings."""

from __future__ import annotations

import json

import pytest

from toolkit.cli import inpaint_eval
from toolkit.engine.config import REPO_CONFIGS, ConfigError, find_config, load_config
from toolkit.tasks.inpaint.benchmark import RECIPE_FIT_KEYS, InpaintModel

INPAINT_MODELS = ("nerv", "nerv_shared", "dnerv", "ffnerv")


def _inpaint_config(tmp_path, *options):
    argv = ["--work-dir", str(tmp_path / "w")] + (["--cfg-options", *options] if options else [])
    return inpaint_eval.build_config(inpaint_eval.parse_args(argv))


@pytest.mark.parametrize("name", INPAINT_MODELS)
def test_inpaint_models_fit_as_compression_does(name, tmp_path):
    """Each inpainting model's optimizer, loss, warmup and precision, and its network settings
    other than the width, are those of its codec's compression config."""
    cfg = _inpaint_config(tmp_path)
    model = InpaintModel.from_config(name, cfg.models[name], cfg.fit)
    compress = load_config(find_config("compress", model.codec_cfg["type"]))
    compress_fit = json.loads(json.dumps(compress.fit.to_dict()))  # as the model's: plain
    for key in RECIPE_FIT_KEYS:
        assert model.fit[key] == compress_fit[key], key
    settings = {k: v for k, v in model.codec_cfg.items() if k != "network"}
    network = {k: v for k, v in model.codec_cfg["network"].items() if k != model.codec.width_key}
    assert settings.items() <= dict(compress.codec).items()
    assert network.items() <= dict(compress.codec.network).items()


@pytest.mark.parametrize("path", sorted((REPO_CONFIGS / "compress").rglob("*.py"))
                         + sorted((REPO_CONFIGS / "inpaint").glob("*.py")), ids=lambda p: p.name)
def test_recipes_do_not_reach_the_tools(path):
    assert not [key for key in load_config(path) if key.startswith("recipe_")]


def test_cfg_options_reach_settings_built_from_a_recipe(tmp_path):
    cfg = load_config(find_config("compress", "nerv"), {"fit.optimizer.lr": 1e-3})
    assert cfg.fit.optimizer.lr == 1e-3 and tuple(cfg.fit.optimizer.betas) == (0.5, 0.999)

    # nerv and nerv_shared are built from the same recipe: an override changes one of them
    cfg = _inpaint_config(tmp_path, "models.nerv.fit.model.loss.l1=0.5",
                          "models.nerv.codec.network.pe_levels=40")
    nerv, shared = (InpaintModel.from_config(n, cfg.models[n], cfg.fit)
                    for n in ("nerv", "nerv_shared"))
    assert nerv.fit["model"]["loss"] == dict(l1=0.5, ssim=0.3)
    assert shared.fit["model"]["loss"] == dict(l1=0.7, ssim=0.3)
    assert nerv.codec_cfg["network"]["pe_levels"] == 40
    assert shared.codec_cfg["network"]["pe_levels"] == 80


@pytest.mark.parametrize("tool,option,needle", [
    # the recipe is built into codec and fit when the file is read: changing it changes nothing
    ("compress", "recipe_nerv.fit.optimizer.lr=1e-3", "recipe_nerv is a recipe"),
    ("inpaint", "recipe_dnerv.fit.amp=None", "recipe_dnerv is a recipe"),
    # every inpainting model brings its own optimizer: a shared one would be ignored
    ("inpaint", "fit.optimizer.lr=1e-3", "fit has no key 'optimizer'"),
])
def test_overrides_of_recipes_are_refused(tool, option, needle, tmp_path):
    key, value = option.split("=")
    with pytest.raises(ConfigError, match=needle):
        if tool == "compress":
            load_config(find_config("compress", "nerv"), {key: value})
        else:
            _inpaint_config(tmp_path, option)


def test_inpaint_fit_recipe_keys_belong_to_the_models(tmp_path):
    """A recipe key in the shared fit (which every model's own replaces) and a model fit
    without a recipe are refused, each with what to do."""
    config = tmp_path / "mine.py"
    config.write_text(f"_base_ = [{str(find_config('inpaint', 'default'))!r}]\n"
                      "fit = dict(amp=None)\n")
    cfg = load_config(config)
    with pytest.raises(ConfigError, match=r"fit: \['amp'\] belong to each model's recipe"):
        InpaintModel.from_config("nerv", cfg.models.nerv, cfg.fit)

    cfg = _inpaint_config(tmp_path)
    entry = dict(cfg.models.nerv, fit=dict(batch_size=4))
    with pytest.raises(ConfigError, match=r"models.nerv.fit: no optimizer, warmup_ratio, amp, "
                                          r"model; start it from its codec's recipe"):
        InpaintModel.from_config("nerv", entry, cfg.fit)


OFFICIAL_UCF101_MEAN = (0.3986, 0.3829, 0.3546)  # boheumd/D-NeRV train.py, transforms.Normalize
OFFICIAL_UCF101_STD = (0.2805, 0.2747, 0.2787)


def test_dnerv_networks_normalise_with_the_official_ucf101_statistics(tmp_path):
    """New D-NeRV networks (compression and inpainting) normalise keyframes and output with the
    official UCF101 mean/std, not the constructor's 0.5/0.25 (0.3-0.7 dB lower on real clips,
    issue 13); the bitstream header states them, so decoding builds the same network."""
    import bitstream_samples
    from toolkit.codecs.inr.networks import build_network
    from toolkit.engine.config import build_codec

    compress = build_codec(load_config(find_config("compress", "dnerv")).codec)
    cfg = _inpaint_config(tmp_path)
    inpaint = InpaintModel.from_config("dnerv", cfg.models["dnerv"], cfg.fit).codec
    for codec in (compress, inpaint):
        network = codec.network_config(64, 80, 16, 0)
        assert tuple(network["mean"]) == OFFICIAL_UCF101_MEAN
        assert tuple(network["std"]) == OFFICIAL_UCF101_STD
        built = build_network({**network, "fc_dim": 4, "min_width": 4})
        assert built.mean.flatten().tolist() == pytest.approx(OFFICIAL_UCF101_MEAN)
        assert built.std.flatten().tolist() == pytest.approx(OFFICIAL_UCF101_STD)
    # a header stating no mean/std (written before) still decodes with the default it was fitted with
    old = bitstream_samples.sample("dnerv")
    assert all("mean" not in n for n in old.header["networks"])
    coder = bitstream_samples.decoder("dnerv")
    for net in coder.networks_from(old):
        assert net.mean.flatten().tolist() == [0.5] * 3 and net.std.flatten().tolist() == [0.25] * 3
    for stated in old.header["networks"]:  # a header that states them, as new fits write it
        stated.update(mean=list(OFFICIAL_UCF101_MEAN), std=list(OFFICIAL_UCF101_STD))
    for net in coder.networks_from(old):
        assert net.mean.flatten().tolist() == pytest.approx(OFFICIAL_UCF101_MEAN)
