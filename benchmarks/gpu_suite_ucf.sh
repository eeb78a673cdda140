#!/usr/bin/env bash
# A shorter GPU session: the UCF101 mini clips (6 real videos, 256x320, 2 fps) at S/M/L.
# Same conventions as gpu_suite.sh (wheels in .whl/, clips in .device_carry/, results in $OUT).
set -uo pipefail
# .device_carry/COMMIT: written before the call by `git describe --always --dirty > .device_carry/COMMIT`
export TOOLKIT_COMMIT=$(cat .device_carry/COMMIT 2>/dev/null) PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:?set OUT}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD DATA=/tmp/data SIZES=${SIZES:-M S L} LIMIT=${LIMIT:-280}
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
python3 tools/prepare_dataset.py ucf101 --root .device_carry/ucf101_mini/UCF-101 --splits-dir .device_carry/ucf101_splits \
  --out $DATA/ucf101_mini --size 256x320 --workers 6 --no-progress | tail -n 3
compress() {  # codec size timeout [cfg options...]
  local codec=$1 size=$2 limit=$3; shift 3
  local wd=/tmp/work/${codec}_$size
  mkdir -p /tmp/work
  timeout "$limit" python3 tools/compress_dataset.py --source-root "$DATA/ucf101_mini" --codec "$codec" --size "$size" \
    --work-dir "$wd" --cfg-options workers=8 throughput.repeats=2 "$@" > "$wd.log" 2>&1 \
    || { echo "FAILED $codec $size"; grep -m3 -i "error" "$wd.log"; } >> "$OUT/status.txt"
  [ -f "$wd/results.json" ] && python3 -c "import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))" "$wd/results.json" >> "$OUT/compression_ucf.jsonl"
  tail -n 12 "$wd.log"
}
export -f compress
branch_a() {
  for size in $SIZES; do compress dnerv $size 60 fit.max_epochs=200; done
  for size in $SIZES; do compress h264 $size 25; compress hevc $size 25; done
}
branch_b() {
  for size in $SIZES; do compress nerv $size 60 fit.max_epochs=200; done
  timeout 45 python3 benchmarks/dnerv_speed.py --sizes M L --dtypes bfloat16 --repeats 3 --out "$OUT/dnerv_speed_bf16.json"
  compress ffnerv M 60 fit.max_epochs=200
}
export -f branch_a branch_b
(CUDA_VISIBLE_DEVICES=0 timeout $LIMIT bash -c branch_a) > "$OUT/branch_a.log" 2>&1 &
(CUDA_VISIBLE_DEVICES=1 timeout $LIMIT bash -c branch_b) > "$OUT/branch_b.log" 2>&1 &
wait
cat "$OUT/status.txt" 2>/dev/null; echo done
