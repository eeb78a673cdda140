"""FFNeRV: flow-guided frame-wise neural video representation (Lee et al., ACM MM 2023).

One network per video. Multi-resolution temporal grids map a frame index to a latent map; a
compact convolutional decoder turns it into an *independent* frame plus, at quarter resolution,
optical flows and aggregation weights towards the neighbours at ``NEIGHBOUR_OFFSETS``. The
neighbours' independent frames are warped by the flows and aggregated, and the result is blended
with the independent frame into the *final* frame.

This module is the network only (plus the neighbour buffer the fitting loop needs and the loss);
training, quantisation and entropy coding live elsewhere. All learned tensors are ordinary
``nn.Parameter`` s of standard modules so they can be wrapped by ``torch.nn.utils.parametrize``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.codecs.inr.blocks import backward_warp_fp32
from toolkit.quality import masked_mean, ssim
from toolkit.codecs.inr.sizing import BudgetBelowSmallestNetwork, count_parameters, stride_plan

NEIGHBOUR_OFFSETS = (-2, -1, 1, 2)
LOOK_AHEAD = max(NEIGHBOUR_OFFSETS)
LOOK_BEHIND = -min(NEIGHBOUR_OFFSETS)


def default_grid_lengths(num_frames: int, num_grids: int = 2) -> tuple[int, ...]:
    """Temporal grid lengths scaled from the paper's compression setting.

    The paper uses T = (300, 600) for a 600-frame video: each grid half as long as the next,
    the longest one slot per frame. Every grid keeps at least 2 slots.
    """
    return tuple(max(2, math.ceil(num_frames / 2 ** (num_grids - 1 - g))) for g in range(num_grids))


PAPER_EXPANSION = 8          # first decoder width = 8 * grid channels (official compression recipe)
EXPANSION_RANGE = (4, 16)    # widths the budget solver may use around it
MAX_CHANNELS = 4096          # give up searching for widths the groups divide beyond this
NEAR_BUDGET = 0.01           # candidates this close (share of the budget) to the best count tie
# The grids' largest share of a solved network's parameters where shorter grids fit: on Bunny
# at 0.35M parameters the paper-length grids took 45 %, and splits with 17 and 27 % trained 0.4
# to 0.8 dB better at equal epochs (docs/results/anchors.md, session 13); 16-26 % at 0.75M-3M.
MAX_GRID_SHARE = 1 / 3
# The share of its budget a solved network may leave unused (the codec warns below it); a
# network with shorter grids is taken only if it uses the rest.
BUDGET_TOLERANCE = 0.05


@functools.lru_cache(maxsize=4096)
def _decoder_parameters(height: int, width: int, plan: tuple, channels: int, first_width: int,
                        num_grids: int, min_channels: int, groups: int) -> int:
    """Parameters outside the grids (they do not depend on the video's length).

    ``plan`` is ``stride_plan(height, width)``, part of the cache key only."""
    with torch.device("meta"):
        net = FFNeRV(height, width, 1, channels=channels, grid_lengths=(1,) * num_grids,
                     num_grids=num_grids, min_channels=min_channels, groups=groups,
                     first_width=first_width)
        return count_parameters(net) - count_parameters(net.grids)


def decoder_widths(first_width: int, num_stages: int, min_channels: int) -> list[int]:
    """Output width of each decoder stage: the first, then halving down to ``min_channels``."""
    widths = [first_width]
    while len(widths) < num_stages:
        widths.append(max(widths[-1] // 2, min_channels))
    return widths


def _groups_divide_widths(first_width: int, num_stages: int, min_channels: int, groups: int) -> bool:
    return all(w % groups == 0 for w in decoder_widths(first_width, num_stages, min_channels)[:-1])


def solve_size(height: int, width: int, num_frames: int, target_params: int, num_grids: int = 2,
               min_channels: int = 24, groups: int = 8,
               max_grid_share: float = MAX_GRID_SHARE) -> dict:
    """Network arguments (``channels``, ``first_width``, ``grid_lengths``) of the largest FFNeRV
    with at most ``target_params`` parameters, shaped as close to the paper's as the budget allows.

    Three knobs, coarse to fine: the grid channels C (a multiple of ``num_grids``), the first
    decoder width (4C to 16C, the paper's is 8C; every width but the last a multiple of
    ``groups``, as the official grouped convolutions need) and the lengths of the
    shorter grids (the default halves per grid, see ``default_grid_lengths``; extra slots, up to
    the longest grid's length, fill what the widths leave). Among the candidates within
    ``NEAR_BUDGET`` of the best count, the one nearest to expansion 8 with the fewest extra slots
    wins.

    Where that network holds more than ``max_grid_share`` of its parameters in its grids (small
    budgets: the few widths the groups allow leave much of the budget to grid slots), every grid
    is halved in length, as often as needed, and the search runs again with extra slots (up to
    the halved longest grid) only while the grids stay within that share; if such a network
    would leave more than ``BUDGET_TOLERANCE`` of the budget unused, the paper-length one is
    kept. This moves Bunny's 0.35M network (640x1280, 132 frames) from 45 % in grids to 17 %,
    as measured, and also the paper's own shape, 1080x1920 with 600 frames at 3M (grids of 483
    + 600 slots, 52 %, become 242 + 300, 31 %), where it is not measured. Raises
    ``BudgetBelowSmallestNetwork`` when not even the smallest network fits.
    """
    lengths = default_grid_lengths(num_frames, num_grids)
    paper, grid_share, _ = _solve_at_lengths(height, width, num_frames, target_params, lengths,
                                             None, num_grids, min_channels, groups)
    solved = paper
    while grid_share > max_grid_share:
        shorter = tuple(max(2, n // 2) for n in lengths)
        if shorter == lengths:
            break
        lengths = shorter
        solved, grid_share, count = _solve_at_lengths(height, width, num_frames, target_params,
                                                      lengths, max_grid_share, num_grids,
                                                      min_channels, groups)
        if count < (1 - BUDGET_TOLERANCE) * target_params:
            return paper
    return solved


def _solve_at_lengths(height: int, width: int, num_frames: int, target_params: int,
                      lengths: tuple[int, ...], share_cap: float | None, num_grids: int,
                      min_channels: int, groups: int) -> tuple[dict, float, int]:
    """``solve_size``'s search with grids of ``lengths`` (their extra slots, if any, keeping the
    grids within ``share_cap`` of the parameters): (network arguments, the grids' share, the
    parameters)."""
    plan = stride_plan(height, width)
    base_h, base_w = plan[:2]
    longest = lengths[-1]
    spare_slots = sum(longest - n for n in lengths[:-1])
    lo_exp, hi_exp = EXPANSION_RANGE

    candidates = []  # (parameters, distance from expansion 8, extra slots, channels, first width, grids)
    smallest = None  # (parameters, first width) of the smallest network
    channels = num_grids
    while True:
        slot = channels // num_grids * base_h * base_w
        grids = sum(lengths) * slot
        lo = max(groups, -(-lo_exp * channels // groups) * groups)
        # a few channels would cap the widths below the floor's scale: let them reach 4x the floor
        widths = [w for w in range(lo, max(lo, hi_exp * channels, 4 * min_channels) + 1, groups)
                  if _groups_divide_widths(w, len(plan[2]), min_channels, groups)]
        if not widths:  # none whose halvings stay divisible by the groups: try wider grids
            if channels > MAX_CHANNELS:
                raise ValueError(f"no FFNeRV decoder widths are divisible by groups={groups} with "
                                 f"min_channels={min_channels}; choose other values")
            channels += num_grids
            continue

        def size(i: int) -> int:
            return grids + _decoder_parameters(height, width, plan, channels, widths[i], num_grids,
                                               min_channels, groups)

        smallest = smallest or (size(0), widths[0])
        if size(0) > target_params:
            break
        fits, too_big = 0, len(widths)
        while too_big - fits > 1:
            mid = (fits + too_big) // 2
            fits, too_big = (mid, too_big) if size(mid) <= target_params else (fits, mid)
        paper = min(range(len(widths)), key=lambda i: abs(widths[i] - PAPER_EXPANSION * channels))
        for i in {fits, paper}:
            used = size(i)
            if used <= target_params:
                extra = min((target_params - used) // slot, spare_slots)
                if share_cap is not None:  # (grids + extra * slot) / (used + extra * slot) <= cap
                    extra = max(0, min(extra, math.floor((share_cap * used - grids)
                                                         / (slot * (1 - share_cap)))))
                candidates.append((used + extra * slot,
                                   abs(math.log(widths[i] / (PAPER_EXPANSION * channels))),
                                   extra, channels, widths[i], grids + extra * slot))
        channels += num_grids
    fixed = dict(num_grids=num_grids, min_channels=min_channels, groups=groups)
    if not candidates:
        raise BudgetBelowSmallestNetwork(
            f"a budget of {target_params} parameters is below the smallest FFNeRV network for "
            f"{num_frames} frames of {height}x{width} ({smallest[0]} parameters)",
            dict(channels=num_grids, first_width=smallest[1], grid_lengths=lengths, **fixed))
    best = max(c[0] for c in candidates)
    near = [c for c in candidates if c[0] >= best - NEAR_BUDGET * target_params]
    total, _, extra, channels, w1, grid_parameters = min(near, key=lambda c: (c[1], c[2]))
    grown = list(lengths)
    for g in range(num_grids - 2, -1, -1):  # extra slots go to the longer of the short grids first
        add = min(extra, longest - grown[g])
        grown[g] += add
        extra -= add
    return (dict(channels=channels, first_width=w1, grid_lengths=tuple(grown), **fixed),
            grid_parameters / total, total)


def neighbour_indices(frame_index: torch.Tensor, num_frames: int,
                      offsets: Sequence[int] = NEIGHBOUR_OFFSETS) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``frame_index + offset`` (N, K), clamped into the video, and whether each is inside."""
    # one add per offset: a tensor of the offsets would be copied from the host, a device sync
    index = torch.stack([frame_index + offset for offset in offsets], dim=1)
    valid = (index >= 0) & (index < num_frames)
    return index.clamp(0, num_frames - 1), valid


def _check_frame_index(frame_index: torch.Tensor, num_frames: int) -> None:
    """Shape and dtype always; the range on the CPU, or asserted on the device without waiting.

    Reading a device tensor's values back would stall the training step (once per check,
    every iteration), so on an accelerator an out-of-range index fails as a device-side
    assertion at the next synchronisation instead of this ValueError.
    """
    if frame_index.dim() != 1 or frame_index.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"frame_index must be a 1-D integer tensor, got shape "
                         f"{tuple(frame_index.shape)} dtype {frame_index.dtype}")
    inside = ((frame_index >= 0) & (frame_index < num_frames)).all()
    if frame_index.device.type != "cpu":
        torch._assert_async(inside, f"frame_index must lie in [0, {num_frames})")
    elif not bool(inside):
        raise ValueError(f"frame_index must lie in [0, {num_frames}), got {frame_index.tolist()}")


class TemporalGrid(nn.Module):
    """One learned temporal grid (T, C, h, w), read with linear interpolation over time."""

    def __init__(self, length: int, channels: int, height: int, width: int):
        super().__init__()
        if length < 1:
            raise ValueError(f"temporal grid length must be >= 1, got {length}")
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(length, channels, height, width)))

    @property
    def length(self) -> int:
        return self.weight.shape[0]  # evaluates a parametrization: not for the hot path

    def forward(self, frame_index: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Features (N, C, h, w) at t * T for t = frame_index / num_frames.

        Integer arithmetic locates the two slots, so a frame that falls on a slot reads it exactly.
        """
        weight = self.weight  # read once: a parametrization (QAT) recomputes on every access
        length = weight.shape[0]
        scaled = frame_index.long() * length
        lower = (scaled // num_frames).clamp(max=length - 1)
        upper = (lower + 1).clamp(max=length - 1)
        frac = (scaled - lower * num_frames).to(weight.dtype) / num_frames
        frac = torch.where(upper == lower, torch.zeros_like(frac), frac)[:, None]
        # Slots are read as rows of a (T, C*h*w) view: the gradient then reaches the slot scatter
        # contiguous. Inductor's vectorised CPU index_put (torch 2.13) mis-strides a batch-of-one
        # channels-last gradient, which its convolution layout pass produces, writing into the
        # next slot and past the grid's end (benchmarks/notes/inductor_cpu_index_put.py).
        rows = weight.flatten(1)
        mixed = rows[lower] * (1 - frac) + rows[upper] * frac
        return mixed.view(-1, *weight.shape[1:])


class UpsampleBlock(nn.Module):
    """conv -> PixelShuffle(stride) -> GELU, no normalisation.

    ``compact`` follows the official code: a grouped 3x3 conv straight to ``out * stride**2``
    channels, then a 1x1 conv at that width. Otherwise one full 3x3 conv.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, compact: bool, groups: int):
        super().__init__()
        expanded = out_channels * stride * stride
        if compact:
            groups = math.gcd(groups, math.gcd(in_channels, expanded))
            self.conv = nn.Sequential(nn.Conv2d(in_channels, expanded, 3, padding=1, groups=groups),
                                      nn.Conv2d(expanded, expanded, 1))
        else:
            self.conv = nn.Conv2d(in_channels, expanded, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class FFNeRV(nn.Module):
    """FFNeRV network for one video of ``num_frames`` frames of ``height`` x ``width``.

    ``channels`` (C) is the total grid width; decoder widths start at ``first_width`` (default
    8*C, the paper's expansion of 8) and halve per stage down to ``min_channels``.
    """

    NEIGHBOUR_OFFSETS = NEIGHBOUR_OFFSETS
    FLOW_SCALE = 4  # flows and weights are predicted at quarter resolution

    def __init__(self, height: int, width: int, num_frames: int, channels: int = 48,
                 grid_lengths: tuple[int, ...] | None = None, num_grids: int = 2,
                 min_channels: int = 24, groups: int = 8, first_width: int | None = None):
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if grid_lengths is None:
            grid_lengths = default_grid_lengths(num_frames, num_grids)
        elif len(grid_lengths) != num_grids:
            raise ValueError(f"grid_lengths {grid_lengths} has {len(grid_lengths)} entries but "
                             f"num_grids is {num_grids}; pass matching values")
        if num_grids < 1 or channels % num_grids:
            raise ValueError(f"channels ({channels}) must be a positive multiple of num_grids ({num_grids})")
        if first_width is None:
            first_width = 8 * channels
        elif first_width < 1:
            raise ValueError(f"first_width must be >= 1, got {first_width}")
        base_h, base_w, strides = stride_plan(height, width)
        quarter_stage = self._quarter_resolution_stage(strides, height, width)

        self.height, self.width, self.num_frames = height, width, num_frames
        self.quarter_stage = quarter_stage
        self.grids = nn.ModuleList(TemporalGrid(length, channels // num_grids, base_h, base_w)
                                   for length in grid_lengths)
        stages, in_channels = [], channels
        for i, (stride, out_channels) in enumerate(
                zip(strides, decoder_widths(first_width, len(strides), min_channels))):
            stages.append(UpsampleBlock(in_channels, out_channels, stride, compact=i > 0, groups=groups))
            if i + 1 == quarter_stage:
                quarter_channels = out_channels
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        num_neighbours = len(self.NEIGHBOUR_OFFSETS)
        self.flow_head = nn.Conv2d(quarter_channels, 3 * num_neighbours, 1)
        self.frame_head = nn.Conv2d(in_channels, 5, 1)

    @property
    def device(self) -> torch.device:
        """The parameters' device, read without evaluating a parametrization (QAT)."""
        return next(self.parameters()).device

    @classmethod
    def _quarter_resolution_stage(cls, strides: Sequence[int], height: int, width: int) -> int:
        """Number of decoder stages after which the features are at quarter resolution."""
        for stage in range(1, len(strides)):
            if math.prod(strides[stage:]) == cls.FLOW_SCALE:
                return stage
        raise ValueError(f"FFNeRV needs a decoder whose last stages upsample by exactly "
                         f"{cls.FLOW_SCALE} after at least one stage; {height}x{width} gives strides "
                         f"{tuple(strides)}: use a size divisible by a larger power of two")

    def independent(self, frame_index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decoder outputs for ``frame_index`` (N,), before aggregation.

        Returns ``frame`` (N, 3, H, W) in [0, 1], ``flow`` (N, K, 2, H, W) in pixels (x, y),
        ``weight_logits`` (N, K, H, W) and ``blend_logits`` (N, 2, H, W).
        """
        _check_frame_index(frame_index, self.num_frames)
        frame_index = frame_index.to(self.device)
        x = torch.cat([grid(frame_index, self.num_frames) for grid in self.grids], dim=1)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i + 1 == self.quarter_stage:
                quarter = self.flow_head(x)
        full = self.frame_head(x)

        n, k, size = x.shape[0], len(self.NEIGHBOUR_OFFSETS), (self.height, self.width)
        flow = F.interpolate(quarter[:, :2 * k], size=size, mode="bilinear", align_corners=False)
        weight_logits = F.interpolate(quarter[:, 2 * k:], size=size, mode="nearest")
        return {
            "frame": (torch.tanh(full[:, :3]) + 1) / 2,
            "flow": (flow * self.FLOW_SCALE).view(n, k, 2, *size),
            "weight_logits": weight_logits,
            "blend_logits": full[:, 3:],
        }

    def aggregate(self, outputs: dict[str, torch.Tensor], neighbours: torch.Tensor,
                  neighbour_valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """Warp and aggregate neighbours, then blend with the independent frame.

        ``neighbours`` (N, K, 3, H, W) are the independent frames at ``frame_index + offset``
        (zero frames outside the video); ``neighbour_valid`` (N, K) bool marks those inside.
        Invalid neighbours get no aggregation weight (the official code lets the zero frame in);
        a frame with no valid neighbour at all (a one-frame video) is its independent frame.
        Returns ``independent``, ``aggregated`` and ``final``, each (N, 3, H, W).
        """
        frame, flow = outputs["frame"], outputs["flow"]
        n, k, _, h, w = flow.shape
        if neighbours.shape != (n, k, 3, h, w) or neighbour_valid.shape != (n, k):
            raise ValueError(f"neighbours must be {(n, k, 3, h, w)} and neighbour_valid {(n, k)}, got "
                             f"{tuple(neighbours.shape)} and {tuple(neighbour_valid.shape)}")
        valid = neighbour_valid.to(device=frame.device, dtype=torch.bool)
        warped = backward_warp_fp32(neighbours.to(frame.device).reshape(n * k, 3, h, w),
                                    flow.reshape(n * k, 2, h, w)).view(n, k, 3, h, w)
        lowest = torch.finfo(outputs["weight_logits"].dtype).min
        weights = outputs["weight_logits"].masked_fill(~valid[:, :, None, None], lowest).softmax(dim=1)
        aggregated = (weights[:, :, None] * warped).sum(dim=1)

        blend_logits = outputs["blend_logits"]
        no_neighbour = ~valid.any(dim=1)[:, None, None, None]
        blend_logits = torch.cat([blend_logits[:, :1],
                                  blend_logits[:, 1:].masked_fill(no_neighbour, torch.finfo(blend_logits.dtype).min)], dim=1)
        blend = blend_logits.softmax(dim=1)
        final = blend[:, :1] * frame + blend[:, 1:] * aggregated
        return {"independent": frame, "aggregated": aggregated, "final": final}

    def forward(self, frame_index: torch.Tensor, neighbours: torch.Tensor,
                neighbour_valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """``independent`` then ``aggregate``; see those methods."""
        return self.aggregate(self.independent(frame_index), neighbours, neighbour_valid)

    @torch.no_grad()
    def decode(self, batch_size: int = 8) -> Iterator[torch.Tensor]:
        """Yield the final frames (3, H, W) in order 0 .. num_frames-1.

        Independent frames are kept in a sliding window (at most ``batch_size + 4``: two frames of
        look-behind and two of look-ahead), never a whole-video buffer. The decoder outputs of at
        most ``batch_size + 2`` frames wait for their look-ahead.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        device = self.device
        window = SlidingFrameWindow(self.num_frames, capacity=batch_size + LOOK_BEHIND + LOOK_AHEAD)
        pending: dict[str, torch.Tensor] | None = None  # outputs of frames next_emit .. next_new-1
        next_new = next_emit = 0
        while next_emit < self.num_frames:
            stop = min(next_new + batch_size, self.num_frames)
            outputs = self.independent(torch.arange(next_new, stop, device=device))
            window.extend(outputs["frame"])
            pending = outputs if pending is None else {
                key: torch.cat([pending[key], value]) for key, value in outputs.items()}
            next_new = stop
            ready_end = stop if stop == self.num_frames else stop - LOOK_AHEAD
            if ready_end <= next_emit:
                continue
            count = ready_end - next_emit
            ready = {key: value[:count] for key, value in pending.items()}
            pending = {key: value[count:] for key, value in pending.items()}
            neighbours, valid = window.neighbours(torch.arange(next_emit, ready_end, device=device))
            yield from self.aggregate(ready, neighbours, valid)["final"]
            next_emit = ready_end
            window.drop_before(next_emit - LOOK_BEHIND)


class SlidingFrameWindow:
    """Independent frames of a contiguous range of frame indices, bounded by ``capacity``."""

    def __init__(self, num_frames: int, capacity: int):
        self.num_frames, self.capacity = num_frames, capacity
        self.start = 0
        self.frames: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.frames is None else self.frames.shape[0]

    def extend(self, frames: torch.Tensor) -> None:
        """Append the frames that follow the window's current end."""
        self.frames = frames if self.frames is None else torch.cat([self.frames, frames])
        if len(self) > self.capacity:
            raise RuntimeError(f"sliding window holds {len(self)} frames, over its capacity {self.capacity}")

    def drop_before(self, index: int) -> None:
        """Forget frames with an index below ``index``."""
        drop = min(max(index - self.start, 0), len(self))
        if drop:
            self.frames = self.frames[drop:]
            self.start += drop

    def neighbours(self, frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K, 3, H, W) neighbour frames (zero outside the video) and valid (N, K)."""
        index, valid = neighbour_indices(frame_index, self.num_frames)
        local = index - self.start
        inside = (local >= 0) & (local < len(self))
        if not bool(inside[valid].all()):
            raise RuntimeError(f"neighbours of frames {frame_index.tolist()} are outside the window "
                               f"[{self.start}, {self.start + len(self)})")
        gathered = self.frames[local.clamp(0, len(self) - 1)]
        return gathered * valid[:, :, None, None, None].to(gathered.dtype), valid


class IndependentFrameBuffer:
    """Detached independent frames of one video, the source of training-time neighbours.

    The fitting loop writes each batch's independent frames with ``update`` and reads
    neighbours with ``neighbours``; frames never written read as zero.
    """

    def __init__(self, num_frames: int, height: int, width: int, dtype: torch.dtype = torch.float16,
                 device: torch.device | str | None = None):
        self.num_frames = num_frames
        self.frames = torch.zeros(num_frames, 3, height, width, dtype=dtype, device=device)

    def update(self, frame_index: torch.Tensor, frames: torch.Tensor) -> None:
        """Store ``frames`` (N, 3, H, W) as the independent frames of ``frame_index`` (N,)."""
        _check_frame_index(frame_index, self.num_frames)
        if frames.shape != (frame_index.shape[0], *self.frames.shape[1:]):
            raise ValueError(f"frames must be {(frame_index.shape[0], *self.frames.shape[1:])}, "
                             f"got {tuple(frames.shape)}")
        self.frames[frame_index.to(self.frames.device)] = frames.detach().to(self.frames)

    def neighbours(self, frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K, 3, H, W) neighbours in the buffer's dtype (zero outside the video), valid (N, K)."""
        _check_frame_index(frame_index, self.num_frames)
        index, valid = neighbour_indices(frame_index.to(self.frames.device), self.num_frames)
        gathered = self.frames[index]
        return gathered * valid[:, :, None, None, None].to(gathered.dtype), valid


LOSS_WEIGHTS = (("aggregated", 0.1), ("independent", 0.1), ("final", 1.0))


def ffnerv_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
    """0.7 * L1 + 0.3 * (1 - SSIM) on the aggregated, independent and final frames (0.1, 0.1, 1).

    ``valid`` (N,) optionally marks the samples that count (e.g. padding in a batch);
    the loss is the mean over them.
    """
    if valid is not None and valid.shape != target.shape[:1]:
        raise ValueError(f"valid must have shape {tuple(target.shape[:1])}, got {tuple(valid.shape)}")
    target = target.float()  # SSIM's variances cancel badly in half precision
    per_sample = 0.0
    for key, weight in LOSS_WEIGHTS:
        frames = outputs[key].float()
        l1 = (frames - target).abs().flatten(1).mean(dim=1)
        per_sample = per_sample + weight * (0.7 * l1 + 0.3 * (1 - ssim(frames, target)))
    return masked_mean(per_sample, valid)
