"""D-NeRV (He et al., CVPR 2023): one shared network for many videos, conditioned on keyframes.

Each video is cut into clips of ``clip_len`` frames; a clip is decoded from its two keyframes
(start, end) and the per-video normalised time of its frames. The network predicts flows that
warp keyframe features at every scale (motion), fuses them into the decoder (SAF) and mixes
frames of the clip (GTMLP). Architecture follows the official code (boheumd/D-NeRV).

Layout: internally every frame is a batch item, ``(B*T, C, h, w)``, so the official Conv3d
layers with kernel (1, k, k) are Conv2d layers with the same parameters; only the
instance norm and the GTMLP look across the frames of a clip. With ``channels_last=True``
those frame tensors stay NHWC end to end (pixel shuffle, GTMLP and warps written for it), so
cuDNN's NHWC kernels need no layout transposes; the parameters and the state dict are the same.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import (PositionalEncoding, backward_warp_frames_fp32, pixel_shuffle_channels_last,
                     warp_and_blend_channels_last)
from .sizing import stride_plan

NUM_KEYFRAMES = 2  # start and end keyframe of a clip
INSTANCE_NORM_EPS = 1e-5


def content_time_weights(num_frames: int) -> torch.Tensor:
    """Weight of the end keyframe when interpolating 2 -> ``num_frames`` frames in time.

    Equal to ``F.interpolate(..., scale_factor=(num_frames / 2, 1, 1), mode='trilinear')``
    (align_corners=False), which the official code uses for the base-scale content feature.
    """
    positions = (torch.arange(num_frames, dtype=torch.float32) + 0.5) * (2 / num_frames) - 0.5
    return positions.clamp(0.0, 1.0)


def round_up(width: int, multiple: int) -> int:
    """``width`` rounded up to a multiple of ``multiple`` (1 leaves it as is)."""
    return -(-width // multiple) * multiple


def dnerv_block_widths(fc_dim: int, num_blocks: int, min_width: int = 32,
                       multiple: int = 1) -> tuple[int, ...]:
    """Decoder block output widths: 2 * fc_dim, then max(round(C / 2), min_width).

    With ``multiple`` > 1 each width is rounded up to a multiple of it (after halving the
    unrounded width, so the paper's widths are the ``multiple`` = 1 case).
    """
    widths = [2 * fc_dim]
    for _ in range(num_blocks - 1):
        widths.append(max(round(widths[-1] / 2), min_width))
    return tuple(round_up(w, multiple) for w in widths)


class ConvHead(nn.Sequential):
    """1x1 conv C -> C//4, GELU, 3x3 conv C//4 -> out (flow and RGB heads).

    ``hidden_multiple`` rounds the hidden width C//4 up to a multiple of it.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_multiple: int = 1):
        if in_channels < 4:
            raise ValueError(f"ConvHead needs at least 4 input channels, got {in_channels}")
        hidden = round_up(in_channels // 4, hidden_multiple)
        super().__init__(nn.Conv2d(in_channels, hidden, 1), nn.GELU(),
                         nn.Conv2d(hidden, out_channels, 3, padding=1))


class ContentEncoder(nn.Module):
    """Keyframe pyramid: 3x3 conv to ``dim`` channels, then patchify convs (kernel = stride).

    ``forward`` returns the features coarse to fine, followed by the input itself.
    """

    def __init__(self, strides: tuple[int, ...], dim: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, padding=1), nn.GELU())
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, s, stride=s), nn.GELU()) for s in strides)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = [image]
        x = self.stem(image)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features[::-1]


class GlobalTemporalMLP(nn.Module):
    """x <- x + per-channel T x T frame mixing (grouped 1x1 conv over C*T channels, groups=C)."""

    def __init__(self, channels: int, clip_len: int):
        super().__init__()
        self.clip_len = clip_len
        self.mix = nn.Conv2d(channels * clip_len, channels * clip_len, 1, groups=channels)

    def forward(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        n, c, h, w = x.shape
        if channels_last:
            # NHWC frames (B, T, h*w, C): per channel c, out_t = sum_s W[c, t, s] x_s + b[c, t]
            frames = x.permute(0, 2, 3, 1).reshape(n // self.clip_len, self.clip_len, h * w, c)
            weight = self.mix.weight.reshape(c, self.clip_len, self.clip_len).to(x.dtype)
            bias = self.mix.bias.reshape(c, self.clip_len).t().to(x.dtype)  # (T, C)
            mixed = torch.einsum("bspc,cts->btpc", frames, weight) + bias[:, None, :]
            return x + mixed.reshape(n, h, w, c).permute(0, 3, 1, 2)
        # (B*T, C, h, w) -> (B, C*T, h, w) with the T frames of a channel adjacent (one group)
        clips = x.unflatten(0, (n // self.clip_len, self.clip_len)).transpose(1, 2)
        mixed = self.mix(clips.reshape(-1, c * self.clip_len, h, w))
        return x + mixed.unflatten(1, (c, self.clip_len)).transpose(1, 2).reshape(n, c, h, w)


class DNeRVBlock(nn.Module):
    """[SAF] -> conv3x3 C_in -> C_out*s^2 -> PixelShuffle(s) -> GELU -> [GTMLP]."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, clip_len: int,
                 encoder_dim: int, use_saf: bool, use_gtmlp: bool):
        super().__init__()
        self.saf = nn.Conv2d(encoder_dim, 2 * in_channels, 1) if use_saf else None
        self.conv = nn.Conv2d(in_channels, out_channels * stride * stride, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = nn.GELU()
        self.gtmlp = GlobalTemporalMLP(out_channels, clip_len) if use_gtmlp else None
        for conv in (self.saf, self.conv):  # the official block initialisation
            if conv is not None:
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, content: torch.Tensor | None,
                channels_last: bool = False) -> torch.Tensor:
        if self.saf is not None:
            gamma, beta = self.saf(content).chunk(2, dim=1)
            x = x * (1 + gamma) + beta
        x = self.conv(x)
        if channels_last:
            x = pixel_shuffle_channels_last(x, self.shuffle.upscale_factor)
        else:
            x = self.shuffle(x)
        x = self.act(x)
        if self.gtmlp is not None:
            x = self.gtmlp(x, channels_last)
        return x


class DNeRV(nn.Module):
    """Keyframes (B, 2, 3, H, W) and times (B, T) -> frames (B, T, 3, H, W), all in [0, 1].

    ``fc_dim`` is the width knob: at 256x320, 198 / 281 / 361 give about 21.4M / 39.1M /
    61.3M parameters (the paper's UCF101 S / M / L). ``use_saf``, ``use_gtmlp`` and
    ``use_flow`` switch off spatially-adaptive fusion, the temporal MLP and the flow warping
    (then the keyframe features are blended unwarped). ``min_width`` is the floor of the
    decoder widths (32 in the paper; smaller for tiny tests). ``width_multiple`` rounds
    the decoder block widths and the heads' hidden widths up to a multiple of it (8 suits
    tensor cores; 1, the default, keeps the paper's widths, several of them odd).
    ``mean``/``std`` normalise the keyframes and de-normalise the output; the default
    (0.5, 0.25) is what headers stating none were fitted with. New fits state the official
    UCF101 statistics (configs/_base_/recipes/dnerv.py): on real clips the output offset
    nearer the data's mean gave 0.3-0.7 dB more (issue 13; the initial weights follow the
    official scheme tensor for tensor and made no difference).
    ``channels_last`` runs every frame tensor NHWC (parameters channels-last too; same state
    dict): float32 outputs equal the default path's to float rounding; under bf16 autocast
    the keyframe features are warped in bf16 (positions and weights stay float32).
    """

    def __init__(self, height: int, width: int, fc_dim: int, clip_len: int = 8,
                 pe_levels: int = 240, use_saf: bool = True, use_gtmlp: bool = True,
                 use_flow: bool = True, mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
                 std: tuple[float, float, float] = (0.25, 0.25, 0.25), encoder_dim: int = 64,
                 mlp_hidden: int = 512, min_width: int = 32, width_multiple: int = 1,
                 channels_last: bool = False, pe_rounding: str = "official"):
        super().__init__()
        if fc_dim < 1 or clip_len < 1 or width_multiple < 1:
            raise ValueError(f"DNeRV needs fc_dim, clip_len and width_multiple >= 1, "
                             f"got {fc_dim}, {clip_len}, {width_multiple}")
        self.height, self.width = height, width
        self.base_h, self.base_w, self.strides = stride_plan(height, width)
        self.fc_dim, self.clip_len = fc_dim, clip_len
        self.use_saf, self.use_gtmlp, self.use_flow = use_saf, use_gtmlp, use_flow

        self.encoding = PositionalEncoding(pe_levels, rounding=pe_rounding)
        self.stem = nn.Sequential(
            nn.Linear(self.encoding.out_dim, mlp_hidden), nn.GELU(),
            nn.Linear(mlp_hidden, fc_dim * self.base_h * self.base_w), nn.GELU(),
        )
        self.encoder = ContentEncoder(self.strides[::-1], encoder_dim)

        self.block_widths = dnerv_block_widths(fc_dim, len(self.strides), min_width, width_multiple)
        in_widths = (fc_dim + encoder_dim,) + self.block_widths[:-1]
        self.blocks = nn.ModuleList(
            DNeRVBlock(c_in, c_out, s, clip_len, encoder_dim, use_saf, use_gtmlp)
            for c_in, c_out, s in zip(in_widths, self.block_widths, self.strides))
        # Scale i is the input resolution of block i; the last scale is the output (RGB).
        # Warped content is needed at every scale with SAF, otherwise only for the RGB head.
        self.scale_widths = in_widths + (self.block_widths[-1],)
        self.last_scale = len(self.strides)
        self.content_scales = tuple(range(self.last_scale + 1)) if use_saf else (self.last_scale,)
        self.flow_heads = nn.ModuleDict(
            {str(i): ConvHead(self.scale_widths[i], 2 * NUM_KEYFRAMES, width_multiple)
             for i in self.content_scales}
            if use_flow else {})
        self.rgb_head = ConvHead(self.block_widths[-1] + 3, 3, width_multiple)

        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, keyframes: torch.Tensor, t: torch.Tensor,
                end_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Decode clips.

        keyframes: (B, 2, 3, H, W) in [0, 1], the start and end keyframe of each clip.
        t: (B, T) per-video normalised time of each frame (``ClipPlan.times``).
        end_weight: (B, T) weight of the end keyframe in the fusion (``ClipPlan.end_weights``);
            defaults to ``k / clip_len`` for frame k.
        Returns (B, T, 3, H, W) in [0, 1].
        """
        batch, frames = self._check_inputs(keyframes, t, end_weight)
        if end_weight is None:
            end_weight = (torch.arange(frames, device=t.device, dtype=torch.float32)
                          / self.clip_len).expand(batch, frames)
        end_weight = end_weight.float().reshape(batch, frames, 1, 1, 1)

        images = (keyframes.flatten(0, 1) - self.mean) / self.std
        pyramid = self.encoder(self._layout(images))
        pyramid = [level.unflatten(0, (batch, NUM_KEYFRAMES)) for level in pyramid]

        code = self.stem(self.encoding(t.reshape(-1)))
        code = code.reshape(batch * frames, self.fc_dim, self.base_h, self.base_w)
        base_weight = content_time_weights(frames).to(t.device).view(1, frames, 1, 1, 1)
        base_content = self._blend(pyramid[0][:, :1], pyramid[0][:, 1:], base_weight)
        x = self._layout(self._normalize_over_clip(torch.cat([code, base_content.to(code.dtype)], 1), batch))

        for scale in range(self.last_scale + 1):
            content = (self._warped_content(pyramid[scale], x, scale, end_weight)
                       if scale in self.content_scales else None)
            if scale < self.last_scale:
                x = self.blocks[scale](x, content, self.channels_last)
            else:
                x = self.rgb_head(torch.cat([x, content.to(x.dtype)], 1))
        frames_out = (x.float() * self.std + self.mean).clamp(0.0, 1.0)
        return frames_out.unflatten(0, (batch, frames))

    def _check_inputs(self, keyframes, t, end_weight) -> tuple[int, int]:
        if t.dim() != 2:
            raise ValueError(f"DNeRV expects t of shape (B, T), got {tuple(t.shape)}")
        batch, frames = t.shape
        expected = (batch, NUM_KEYFRAMES, 3, self.height, self.width)
        if tuple(keyframes.shape) != expected:
            raise ValueError(f"DNeRV expects keyframes of shape {expected} (start, end), "
                             f"got {tuple(keyframes.shape)}")
        if end_weight is not None and tuple(end_weight.shape) != (batch, frames):
            raise ValueError(f"end_weight must have the shape of t {(batch, frames)}, "
                             f"got {tuple(end_weight.shape)}")
        if self.use_gtmlp and frames != self.clip_len:
            raise ValueError(f"DNeRV with GTMLP decodes whole clips of {self.clip_len} frames, "
                             f"got {frames}; pad the clip (see keyframes.plan_clips)")
        return batch, frames

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """Frames in the network's memory format (a no-op when already in it)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @staticmethod
    def _blend(start: torch.Tensor, end: torch.Tensor, end_weight: torch.Tensor) -> torch.Tensor:
        """(1 - w) * start + w * end per frame; (B, T|1, C, h, w) inputs -> (B*T, C, h, w)."""
        return ((1 - end_weight) * start + end_weight * end).flatten(0, 1)

    def _warped_content(self, keys: torch.Tensor, x: torch.Tensor, scale: int,
                        end_weight: torch.Tensor) -> torch.Tensor:
        """Fused keyframe content at ``scale`` for every frame: (B*T, C_key, h, w)."""
        if not self.use_flow:
            return self._layout(self._blend(keys[:, :1], keys[:, 1:], end_weight))
        batch, frames = end_weight.shape[:2]
        h, w = keys.shape[-2:]
        # flow channels (0, 1) point into the start keyframe, (2, 3) into the end keyframe
        flow = self.flow_heads[str(scale)](x).reshape(batch, frames, NUM_KEYFRAMES, 2, h, w)
        if self.channels_last:
            return warp_and_blend_channels_last(keys, flow, end_weight)
        warped = backward_warp_frames_fp32(keys.flatten(0, 1), flow.transpose(1, 2).flatten(0, 1))
        warped = warped.unflatten(0, (batch, NUM_KEYFRAMES))  # (B, 2, T, C, h, w)
        return self._blend(warped[:, 0], warped[:, 1], end_weight)

    @staticmethod
    def _normalize_over_clip(x: torch.Tensor, batch: int) -> torch.Tensor:
        """InstanceNorm3d without affine: per clip and channel over (T, h, w), in float32."""
        clips = x.float().unflatten(0, (batch, -1))
        var, mean = torch.var_mean(clips, dim=(1, 3, 4), correction=0, keepdim=True)
        return ((clips - mean) * torch.rsqrt(var + INSTANCE_NORM_EPS)).flatten(0, 1)
