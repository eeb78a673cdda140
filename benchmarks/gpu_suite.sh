#!/usr/bin/env bash
# One batched GPU session: the measurements recorded in docs/results/.
# Runs on a 2-GPU machine (two branches in parallel, one per GPU), offline, with the
# wheels from tools/build_wheelhouse.py in .whl/ and the shared clips in .device_carry/.
# Every result lands in $OUT as soon as it exists (JSON lines), so a cut-off run keeps
# what finished. Usage: OUT=/some/dir bash benchmarks/gpu_suite.sh
set -uo pipefail
# .device_carry/COMMIT: written before the call by `git describe --always --dirty > .device_carry/COMMIT`
export TOOLKIT_COMMIT=$(cat .device_carry/COMMIT 2>/dev/null) PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:?set OUT}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
git rev-parse --short=12 HEAD 2>/dev/null >> "$OUT/gpu.txt"
DATA=/tmp/data
collect() { [ -f "$1/results.json" ] && python3 -c "import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))" "$1/results.json" >> "$OUT/compression.jsonl"; }
compress() {  # dataset codec size timeout [cfg options...]
  local ds=$1 codec=$2 size=$3 limit=$4; shift 4
  local wd=/tmp/work/$ds/${codec}_$size
  timeout "$limit" python3 tools/compress_dataset.py --source-root "$DATA/$ds" --codec "$codec" --size "$size" \
    --work-dir "$wd" --cfg-options workers=8 "$@" > "$wd.log" 2>&1 || echo "FAILED $ds $codec $size (see log)" >> "$OUT/status.txt"
  tail -n 14 "$wd.log"; collect "$wd"
}
mkdir -p /tmp/work/builtin /tmp/work/ucf101_mini

# ---- data (CPU) -----------------------------------------------------------------------
python3 tools/make_builtin_dataset.py --out /tmp/builtin_videos --preset default --workers 16 --no-progress | tail -n 4
python3 tools/prepare_dataset.py list --root /tmp/builtin_videos --out $DATA/builtin --size 256x320 --workers 16 --no-progress | tail -n 7
python3 tools/prepare_dataset.py ucf101 --root .device_carry/ucf101_mini/UCF-101 --splits-dir .device_carry/ucf101_splits \
  --out $DATA/ucf101_mini --size 256x320 --workers 6 --no-progress | tail -n 7

# ---- branch A (GPU 0): built-in dataset, size M, then TSM ------------------------------
branch_a() {
  export CUDA_VISIBLE_DEVICES=0
  compress builtin dnerv M 150 fit.max_epochs=100 fit.num_workers=6
  compress builtin nerv M 120 fit.max_epochs=30 fit.batch_size=32 fit.num_workers=6
  compress builtin h264 M 60
  compress builtin hevc M 90
  if [ -f tools/train_tsm.py ]; then
    for src in raw h264_M hevc_M nerv_M dnerv_M; do
      [ -d $DATA/builtin/$src ] || continue
      timeout 100 python3 tools/train_tsm.py --data-root $DATA/builtin --source $src --setting both \
        --work-dir /tmp/work/tsm --amp --cfg-options train_dataloader.num_workers=6 > /tmp/work/tsm_$src.log 2>&1 \
        || echo "FAILED tsm $src" >> "$OUT/status.txt"
      tail -n 5 /tmp/work/tsm_$src.log
    done
    python3 tools/gather_tsm_results.py --work-root /tmp/work/tsm --out "$OUT/tsm_results" 2>&1 | tail -n 20
  fi
}

# ---- branch B (GPU 1): UCF101 mini S/M/L, then D-NeRV speed ----------------------------
branch_b() {
  export CUDA_VISIBLE_DEVICES=1
  timeout 90 python3 benchmarks/dnerv_speed.py --sizes S M L --dtypes float32 bfloat16 --repeats 3 --out "$OUT/dnerv_speed.json"
  for codec in dnerv nerv; do compress ucf101_mini $codec M 45 fit.max_epochs=300; done
  for codec in h264 hevc; do compress ucf101_mini $codec M 45; done
  compress ucf101_mini ffnerv M 60 fit.max_epochs=300
  for size in S L; do
    for codec in dnerv nerv; do compress ucf101_mini $codec $size 45 fit.max_epochs=300; done
    for codec in h264 hevc; do compress ucf101_mini $codec $size 45; done
  done
}

(timeout 470 bash -c "$(declare -f compress collect branch_a); DATA=$DATA OUT=$OUT branch_a") > "$OUT/branch_a.log" 2>&1 &
(timeout 470 bash -c "$(declare -f compress collect branch_b); DATA=$DATA OUT=$OUT branch_b") > "$OUT/branch_b.log" 2>&1 &
wait
# ---- both GPUs: one multi-GPU fit through torchrun (mmengine's pytorch launcher) --------
timeout 50 torchrun --nproc_per_node 2 tools/compress_dataset.py --source-root $DATA/ucf101_mini --codec nerv --size M \
  --work-dir /tmp/work/ucf101_mini/nerv_M_ddp --launcher pytorch --cfg-options fit.max_epochs=30 output=nerv_M_ddp \
  > "$OUT/torchrun.log" 2>&1 || echo "FAILED torchrun" >> "$OUT/status.txt"
collect /tmp/work/ucf101_mini/nerv_M_ddp
tail -n 20 "$OUT/torchrun.log"
cat "$OUT/status.txt" 2>/dev/null
echo done
