#!/usr/bin/env bash
# GPU session 2: the D-NeRV ablation, the real UCF101 clips, multi-GPU fits and the
# inpainting benchmark, on one machine of several GPUs (4 planned; any number works).
#
#   GPU 1: UCF101 clips (6 videos, 84 frames at 256x320): NeRV, D-NeRV S/M/L, H.264/HEVC
#          S/M/L (CPU); FFNeRV spread over 3 processes; D-NeRV under torchrun on GPUs 1+2
#   GPU 2-3: the D-NeRV ablation on the built-in set at size M (full, no SAF, no GTMLP,
#          no flow; the same width, fc_dim 4 as the M budget gives, and the same epochs)
#   all: inpainting (NeRV, NeRV*, D-NeRV, FFNeRV) on the built-in set and the UCF101 and
#          HMDB51 clips, one process per model, then one run that scores them together
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_more.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
if [ "$TINY" = 0 ]; then
  UCF_EPOCHS=${UCF_EPOCHS:-300} ABLATION_EPOCHS=${ABLATION_EPOCHS:-40} INPAINT_EPOCHS=${INPAINT_EPOCHS:-100}
  FIT_SECONDS=${FIT_SECONDS:-150}
else
  UCF_EPOCHS=1 ABLATION_EPOCHS=1 INPAINT_EPOCHS=1 FIT_SECONDS=600
fi
log "suite more: $NGPU GPU(s)"
prepare_data builtin ucf101_mini hmdb51_mini

# ---- UCF101 clips ----------------------------------------------------------------------
(
  # NeRV and FFNeRV: the budget of any size is below the smallest network on 84 frames, so
  # S, M and L would be the same network: fitted once, as M. D-NeRV's sizes differ by their
  # keyframes. Classical codecs at the nominal bpp of each size.
  compress 1 ucf101_mini nerv M 240 fit.max_epochs=$UCF_EPOCHS fit.max_time_s=$FIT_SECONDS &
  for size in S M L; do compress 1 ucf101_mini dnerv $size 240 fit.max_epochs=$UCF_EPOCHS fit.max_time_s=$FIT_SECONDS & done
  for size in S M L; do compress 1 ucf101_mini h264 $size 90 match_bpp_of=[]; compress 1 ucf101_mini hevc $size 90 match_bpp_of=[]; done &
  PROCS=3 PORT=29521 compress 1 ucf101_mini ffnerv M 240 fit.max_epochs=$UCF_EPOCHS \
    fit.max_time_s=$FIT_SECONDS
  wait
) &
PROCS=$(( NGPU > 1 ? 2 : 1 )) PORT=29523 compress $(( 1 % NGPU )),$(( 2 % NGPU )) ucf101_mini dnerv M 240 \
  fit.max_epochs=$UCF_EPOCHS fit.max_time_s=$FIT_SECONDS output=dnerv_M_ddp &

# ---- D-NeRV ablation on the built-in set -----------------------------------------------
ablation() {  # GPU NAME SWITCH
  compress "$1" builtin dnerv M 330 codec.network.fc_dim=4 fit.max_epochs=$ABLATION_EPOCHS \
    fit.max_time_s=$(( 2 * FIT_SECONDS )) fit.batch_size=8 fit.num_workers=6 output=dnerv_M_$2 \
    ${3:+codec.network.$3=False}
}
ablation 2 full &
ablation 2 no_saf use_saf &
ablation 3 no_gtmlp use_gtmlp &
ablation 3 no_flow use_flow &

# ---- inpainting ----------------------------------------------------------------------------
inpaint() {  # DATASET GPU_OFFSET [cfg options...]: one process per model, then the joint run
  local ds=$1 g=$2 m k=0; shift 2
  local wd=$WORK/inpaint_$ds
  for m in nerv nerv_shared dnerv ffnerv; do
    log "start inpaint $ds $m"
    on_gpu $(( g + k++ )) timeout "$(limit 300)" python3 tools/inpaint_eval.py --source-root "$DATA/$ds" \
      --models $m --work-dir "$wd" --cfg-options fit.max_epochs=$INPAINT_EPOCHS "$@" > "$WORK/inpaint_${ds}_$m.log" 2>&1 &
  done
  wait
  log "end inpaint $ds fits; scoring"
  on_gpu "$g" timeout "$(limit 120)" python3 tools/inpaint_eval.py --source-root "$DATA/$ds" \
    --models nerv,nerv_shared,dnerv,ffnerv --work-dir "$wd" --cfg-options fit.max_epochs=$INPAINT_EPOCHS "$@" \
    > "$WORK/inpaint_$ds.log" 2>&1
  log "end inpaint $ds rc=$?"
}
inpaint builtin 0 &
inpaint ucf101_mini 1 split=None &
inpaint hmdb51_mini 2 split=None &

wait
log "all jobs ended"
python3 tools/report_compression.py "$OUT/compression.jsonl" --out "$OUT/rd_more.png" > "$OUT/compression_table.md" 2>&1
cat "$OUT/compression_table.md"
for ds in builtin ucf101_mini hmdb51_mini; do cat "$WORK/inpaint_$ds"/*.md 2>/dev/null; done
tar czf "$OUT/logs.tgz" --exclude='*.pth' --exclude='*.mkv' --exclude='*.bits' --exclude='*.npz' \
  --exclude='panels' -C "$WORK" . 2>/dev/null
tar czf "$OUT/panels_builtin.tgz" -C "$WORK" inpaint_builtin/panels 2>/dev/null
tar czf "$OUT/panels_real.tgz" -C "$WORK" inpaint_ucf101_mini/panels inpaint_hmdb51_mini/panels 2>/dev/null
log "done"
