#!/usr/bin/env bash
# GPU session 1: the built-in dataset end to end, and the D-NeRV speed benchmark, on one
# machine of 4 GPUs (any number works: jobs are placed round robin).
#
#   1. data: the built-in dataset (128 videos, 256x320, 2 fps: 1,792 frames)
#   2. compression at S/M/L: NeRV and D-NeRV (one fit per GPU 0-2), FFNeRV (one network per
#      video, spread over 12 processes on GPUs 0-2 with torchrun), H.264/HEVC (CPU, at the
#      nominal bpp of each size). Every fit has an epoch budget and a time limit
#      (fit.max_time_s) that ends it cleanly if the budget would overrun.
#   3. TSM on raw first (the test setting's shared fit), then on every decoded source as soon
#      as it exists, both settings, several fits per GPU
#   4. GPU 3, alone: benchmarks/dnerv_speed.py (S/M/L fp32/bf16; M bf16 with and without
#      torch.compile and channels-last)
#   5. the compression table and RD plot, the TSM table and bar chart; logs in a tarball
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_builtin.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
if [ "$TINY" = 0 ]; then
  NERV_EPOCHS=${NERV_EPOCHS:-120} DNERV_EPOCHS=${DNERV_EPOCHS:-80} FFNERV_EPOCHS=${FFNERV_EPOCHS:-200}
  TSM_EPOCHS=${TSM_EPOCHS:-60} FFNERV_PROCS=${FFNERV_PROCS:-12} FIT_SECONDS=${FIT_SECONDS:-230}
else
  NERV_EPOCHS=1 DNERV_EPOCHS=1 FFNERV_EPOCHS=1 TSM_EPOCHS=1 FFNERV_PROCS=2 FIT_SECONDS=600
fi
DS=builtin
TSM_WORK=$WORK/tsm_$DS
log "suite builtin: $NGPU GPU(s), epochs nerv $NERV_EPOCHS dnerv $DNERV_EPOCHS ffnerv $FFNERV_EPOCHS tsm $TSM_EPOCHS"
prepare_data builtin

tsm_when_ready() {  # GPU SOURCE: wait for the decoded source and the shared raw fit, then TSM
  wait_for "$DATA/$DS/$2/manifest.json" "$TSM_WORK/test_raw/results.json" && tsm "$@"
}

# ---- TSM on raw: the fit that the test setting reuses for every source ----------------
tsm 0 raw &

# ---- compression ---------------------------------------------------------------------
g=0
for size in S M L; do
  compress $g $DS nerv $size 330 fit.max_epochs=$NERV_EPOCHS fit.max_time_s=$FIT_SECONDS \
    fit.batch_size=32 fit.num_workers=4 &
  # batches of 8 clips (64 frames): 28 steps an epoch on 1,792 frames instead of 7
  compress $g $DS dnerv $size 360 fit.max_epochs=$DNERV_EPOCHS fit.max_time_s=$FIT_SECONDS \
    fit.batch_size=8 fit.num_workers=6 &
  g=$(( g + 1 ))
done
if [ "$TINY" = 0 ]; then
  (
    log "start speed"
    on_gpu 3 timeout "$(limit 120)" python3 benchmarks/dnerv_speed.py --sizes S M L --dtypes float32 bfloat16 \
      --repeats 3 --out "$OUT/dnerv_speed.json" > "$WORK/speed.log" 2>&1
    log "end speed rc=$?"
    on_gpu 3 timeout "$(limit 360)" python3 benchmarks/dnerv_speed.py --sizes M --dtypes bfloat16 \
      --compile both --channels-last both --repeats 3 --out "$WORK/dnerv_speed_compile.json" > "$WORK/speed_compile.log" 2>&1
    log "end speed compile rc=$?"
  ) &
fi
# FFNeRV: one network per video (128); the budget of any size is below its smallest network
# on 14-frame videos, so S, M and L would be the same network: fitted once, as M.
PROCS=$FFNERV_PROCS PORT=29517 compress 0,1,2 $DS ffnerv M 330 fit.max_epochs=$FFNERV_EPOCHS &
(
  for size in S M L; do
    compress 0 $DS h264 $size 120 match_bpp_of=[] &
    compress 0 $DS hevc $size 150 match_bpp_of=[]
    wait
  done
) &

# ---- TSM on every decoded source, as it appears ---------------------------------------
g=0
for src in h264_S h264_M h264_L hevc_S hevc_M hevc_L nerv_S nerv_M nerv_L dnerv_S dnerv_M dnerv_L ffnerv_M; do
  tsm_when_ready $(( g++ % 3 )) "$src" &
done
wait
log "all jobs ended"

# ---- tables, plots, logs --------------------------------------------------------------
python3 tools/report_compression.py "$OUT/compression.jsonl" --out "$OUT/rd_builtin.png" > "$OUT/compression_table.md" 2>&1
python3 tools/gather_tsm_results.py --work-root "$TSM_WORK" --out "$OUT/tsm_builtin" > /dev/null 2>&1
cat "$OUT/compression_table.md" "$OUT/tsm_builtin.md" 2>/dev/null
python3 - "$OUT/dnerv_speed.json" "$WORK/dnerv_speed_compile.json" <<'PY' 2>/dev/null
import json, sys  # the two speed runs in one file (rows of both; facts of the first)
first, second = (json.load(open(p)) for p in sys.argv[1:])
first["rows"] += second["rows"]
json.dump(first, open(sys.argv[1], "w"), indent=2)
PY
tar czf "$OUT/logs.tgz" --exclude='*.pth' --exclude='*.mkv' --exclude='*.bits' --exclude='*.npz' \
  -C "$WORK" . 2>/dev/null
log "done"
