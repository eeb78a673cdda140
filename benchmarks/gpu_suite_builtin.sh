#!/usr/bin/env bash
# GPU session 1: the built-in dataset end to end, on one machine of several GPUs (4 planned;
# any number works, jobs are placed round robin).
#
#   1. data: the built-in dataset (128 videos, 256x320, 2 fps: 1,792 frames)
#   2. compression at S/M/L: NeRV (3 fits side by side on one GPU), D-NeRV (one GPU per
#      size), FFNeRV (one network per video, spread over 12 processes with torchrun),
#      H.264/HEVC (CPU, at the nominal bpp of each size)
#   3. TSM on raw first (the test setting's shared fit), then on every decoded source as soon
#      as it exists, both settings, several fits per GPU
#   4. the compression table and RD plot, the TSM table and bar chart; logs in a tarball
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_builtin.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
if [ "$TINY" = 0 ]; then
  NERV_EPOCHS=${NERV_EPOCHS:-150} DNERV_EPOCHS=${DNERV_EPOCHS:-100} FFNERV_EPOCHS=${FFNERV_EPOCHS:-300}
  TSM_EPOCHS=${TSM_EPOCHS:-60} FFNERV_PROCS=${FFNERV_PROCS:-12} TSM_AMP=--amp
else
  NERV_EPOCHS=1 DNERV_EPOCHS=1 FFNERV_EPOCHS=1 TSM_EPOCHS=1 FFNERV_PROCS=2 TSM_AMP=
fi
DS=builtin
TSM_WORK=$WORK/tsm_$DS
log "suite builtin: $NGPU GPU(s), epochs nerv $NERV_EPOCHS dnerv $DNERV_EPOCHS ffnerv $FFNERV_EPOCHS tsm $TSM_EPOCHS"
prepare_data builtin

tsm() {  # GPU SOURCE: TSM on SOURCE, both settings
  local g=$1 src=$2
  log "start tsm $src"
  on_gpu "$g" timeout "$(limit 240)" python3 tools/train_tsm.py --data-root "$DATA/$DS" --source "$src" \
    --setting both --config configs/tsm/tsm_r18_builtin.py --work-dir "$TSM_WORK" $TSM_AMP \
    --cfg-options train_cfg.max_epochs="$TSM_EPOCHS" train_cfg.val_interval=20 \
    train_dataloader.num_workers=4 val_dataloader.num_workers=2 test_dataloader.num_workers=2 \
    > "$WORK/tsm_$src.log" 2>&1
  log "end tsm $src rc=$? $(grep -h -o '"top1": [0-9.]*' "$TSM_WORK"/*_"$src"/results.json 2>/dev/null | tr '\n' ' ')"
}
tsm_when_ready() {  # GPU SOURCE: wait for the decoded source and the shared raw fit, then TSM
  wait_for "$DATA/$DS/$2/manifest.json" "$TSM_WORK/test_raw/results.json" && tsm "$@"
}

# ---- TSM on raw: the fit that the test setting reuses for every source ----------------
tsm 3 raw &

# ---- compression ---------------------------------------------------------------------
for size in S M L; do
  compress 0 $DS nerv $size 330 fit.max_epochs=$NERV_EPOCHS fit.batch_size=32 fit.num_workers=4 &
done
compress 1 $DS dnerv M 360 fit.max_epochs=$DNERV_EPOCHS fit.num_workers=6 &
compress 2 $DS dnerv L 360 fit.max_epochs=$DNERV_EPOCHS fit.num_workers=6 &
compress 3 $DS dnerv S 360 fit.max_epochs=$DNERV_EPOCHS fit.num_workers=6 &
# FFNeRV: one network per video (128); the budget of any size is below its smallest network
# on 14-frame videos, so S, M and L would be the same network: fitted once, as M.
(
  wd=$WORK/$DS/ffnerv_M
  log "start compress $DS ffnerv_M ($FFNERV_PROCS processes)"
  timeout "$(limit 330)" python3 -m torch.distributed.run --nproc_per_node "$FFNERV_PROCS" --master_port 29517 \
    tools/compress_dataset.py --source-root "$DATA/$DS" --codec ffnerv --size M --work-dir "$wd" \
    --launcher pytorch --cfg-options workers=4 fit.max_epochs=$FFNERV_EPOCHS $TINY_ALL > "$wd.log" 2>&1
  rc=$?; jsonl "$wd/results.json" "$OUT/compression.jsonl"; log "end compress $DS ffnerv_M rc=$rc"
) &
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
  tsm_when_ready $(( g++ )) "$src" &
done
wait
log "all jobs ended"

# ---- tables, plots, logs --------------------------------------------------------------
python3 tools/report_compression.py "$OUT/compression.jsonl" --out "$OUT/rd_builtin.png" > "$OUT/compression_table.md" 2>&1
python3 tools/gather_tsm_results.py --work-root "$TSM_WORK" --out "$OUT/tsm_builtin" > /dev/null 2>&1
cat "$OUT/compression_table.md" "$OUT/tsm_builtin.md" 2>/dev/null
tar czf "$OUT/logs.tgz" --exclude='*.pth' --exclude='*.mkv' --exclude='*.bits' --exclude='*.npz' \
  -C "$WORK" . 2>/dev/null
log "done"
