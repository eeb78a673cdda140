#!/usr/bin/env bash
# GPU session 5 (issue 13): D-NeRV parity with the official model, fitting cost against the
# size of the source, and the ablation after parity; one H100. Each part fits in one call of
# about 8 minutes (DEADLINE, default 540 s), so run one part per call (PARTS):
#   dnerv_parity    benchmarks/peer_dnerv.py parity: the official DNeRV and ours trained alike
#                   on the UCF101 clips (.device_carry/ucf101_mini) and the built-in set, at the
#                   width the M budget picks and at the paper's M (fc_dim 281); one call per
#                   dataset and width, so a width the budget cannot size loses only its row
#   dnerv_scaling   benchmarks/dnerv_scaling.py: 1k, 10k, 100k generated frames at 256x320,
#                   D-NeRV M, epoch time, loader wait, GPU busy, peak host and GPU memory
#   dnerv_ablation  tools/compress_dataset.py on the built-in set at M: full, no SAF, no GTMLP,
#                   no flow, each the same width (fc_dim 4, what the M budget gives) and epochs,
#                   the four at once on the one GPU (as gpu_suite_more.sh ran it on two)
# The official checkout is read from .device_carry/peers/D-NeRV (kept outside the
# repository, copied there for the call; never committed).
#
# Usage: OUT=/some/dir PARTS=dnerv_parity bash benchmarks/gpu_suite_dnerv.sh   (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
PARTS=${PARTS:-dnerv_parity dnerv_scaling dnerv_ablation}
PEERS=${PEERS:-.device_carry/peers}
part() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
TINY_FLAG=$([ "$TINY" = 1 ] && echo --tiny)
if [ "$TINY" = 0 ]; then
  PARITY_EPOCHS_UCF=${PARITY_EPOCHS_UCF:-200} PARITY_EPOCHS_BUILTIN=${PARITY_EPOCHS_BUILTIN:-30}
  ABLATION_EPOCHS=${ABLATION_EPOCHS:-25} ABLATION_SECONDS=${ABLATION_SECONDS:-330}
  SCALING_FRAMES=${SCALING_FRAMES:-1000 10000 100000} SCALING_EPOCHS=${SCALING_EPOCHS:-3 3 2}
else
  PARITY_EPOCHS_UCF=1 PARITY_EPOCHS_BUILTIN=1 ABLATION_EPOCHS=1 ABLATION_SECONDS=600
  SCALING_FRAMES="64 256 1024" SCALING_EPOCHS=1
fi
log "suite dnerv: $NGPU GPU(s), parts: $PARTS"

if part dnerv_parity; then
  prepare_data ucf101_mini builtin
  # the UCF101 clips are one batch an epoch: no loader workers to start every epoch
  parity "${PARITY_GPU:-0}" ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget
  parity "${PARITY_GPU:-0}" ucf101_mini "$PARITY_EPOCHS_UCF" 0 281
  parity "${PARITY_GPU:-0}" builtin "$PARITY_EPOCHS_BUILTIN" 6 budget
  parity "${PARITY_GPU:-0}" builtin "$PARITY_EPOCHS_BUILTIN" 6 281
fi

if part dnerv_scaling; then
  log "start dnerv_scaling ($SCALING_FRAMES frames)"
  # shellcheck disable=SC2086  # the sizes and epochs are lists
  on_gpu 0 timeout "$(limit 520)" python3 benchmarks/dnerv_scaling.py $TINY_FLAG \
    --frames $SCALING_FRAMES --epochs $SCALING_EPOCHS --workers "${SCALING_WORKERS:-8}" \
    --prepare-workers "$CPUS" --work "$WORK/dnerv_scaling" --out "$OUT/dnerv_scaling.jsonl" \
    > "$WORK/dnerv_scaling.log" 2>&1
  log "end dnerv_scaling rc=$?"
  tail -n 8 "$WORK/dnerv_scaling.log" | tee -a "$OUT/timeline.txt"
  rm -rf "$WORK/dnerv_scaling"
fi

if part dnerv_ablation; then
  prepare_data builtin
  ablation() {  # NAME SWITCH
    compress 0 builtin dnerv M 520 codec.network.fc_dim=4 fit.max_epochs=$ABLATION_EPOCHS \
      fit.max_time_s=$ABLATION_SECONDS fit.batch_size=8 fit.num_workers=3 workers=3 \
      output=dnerv_M_$1 ${2:+codec.network.$2=False}
  }
  ablation full &
  ablation no_saf use_saf &
  ablation no_gtmlp use_gtmlp &
  ablation no_flow use_flow &
  wait
  log "end dnerv_ablation"
fi

# one archive of the logs: few files come back from the GPU machine
mkdir -p "$OUT/logs"; cp "$WORK"/*.log "$WORK"/builtin/*.log "$OUT/logs/" 2>/dev/null
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
log "done"
