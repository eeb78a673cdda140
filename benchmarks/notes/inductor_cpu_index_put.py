"""Minimal repro: inductor's vectorised CPU index_put mis-strides a batch-of-one channels-last source.

torch 2.13 (CPU): ``zeros(T, C, H, W).index_put((index,), src, accumulate=True)`` with ``src`` of
shape (1, C, H, W) in channels-last layout, compiled with the inductor backend, writes the source
into row ``index`` *and* row ``index + 1`` (the store offset uses a doubled stride in the tiled,
transposed inner loop). For ``index == T - 1`` it writes past the end of the output: heap
corruption (``malloc_consolidate(): unaligned fastbin chunk detected`` or a later segfault).

This is the backward of ``table[index]`` (N = 1) when the gradient arrives channels-last, which is
what inductor's convolution layout pass gives FFNeRV's temporal grids: FFNeRV fits at batch 1
crashed after the first compiled backward. Batch >= 2, a contiguous source, ``cpp.simdlen = 1``
(no vectorisation) or eager/aot_eager are correct. FFNeRV's ``TemporalGrid`` now reads its slots
as rows of a (T, C*h*w) view, so the gradient reaches the scatter contiguous.

Run: ``python benchmarks/notes/inductor_cpu_index_put.py``; exits 1 while the bug is present.
"""

import sys

import torch


def scatter(index: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    return torch.zeros(11, *src.shape[1:]).index_put((index,), src, accumulate=True)


def rows_written(out: torch.Tensor) -> list[int]:
    return out.flatten(1).abs().sum(1).nonzero().flatten().tolist()


if __name__ == "__main__":
    src = torch.randn(1, 1, 2, 7).permute(0, 3, 1, 2)  # (1, 7, 1, 2), channels-last
    index = torch.tensor([5])  # not the last row: the bug then stays inside the output
    eager, compiled = scatter(index, src), torch.compile(scatter, backend="inductor")(index, src)
    print(f"torch {torch.__version__}: rows written eager {rows_written(eager)}, "
          f"inductor {rows_written(compiled)}, max difference {(compiled - eager).abs().max():.3g}")
    sys.exit(0 if torch.equal(compiled, eager) else 1)
