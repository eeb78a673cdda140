#!/usr/bin/env bash
# GPU session 6, last call (issues 11 and 13): checks after the chained Bunny anchors
# (gpu_suite_chain.sh), one kind per GPU, each cut by DEADLINE:
#   GPU 0  D-NeRV parity on the UCF101 clips: the budget's width, the paper's M (281), and
#          the budget's width with seed 1
#   GPU 1  the same from the official's initial weights on both sides (--same-init: a gap
#          left is the training, not the draw of the weights), and seed 2
#   GPU 2  benchmarks/peer_ffnerv.py: the official FFNeRV beside ours, both in float32, then
#          2 profiled epochs with ours in bf16 (where each step's time goes)
#   GPU 3  NeRV at 1.5M on the 640x1280 crop, seeds 0, 1, 2 (the encoding rounded as the
#          official code since 98bc125): how far one seed moves it
# On fewer GPUs the GPU numbers wrap around (GPU 2 -> 0 and 3 -> 1 on two), and the seed
# runs of the parity are left out (NERV_SEEDS picks the NeRV seeds).
# The peers are read from .device_carry/peers/<name> (checkouts kept outside the repository).
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_checks.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
PEERS=${PEERS:-.device_carry/peers}
TINY_FLAG=$([ "$TINY" = 1 ] && echo --tiny)
if [ "$TINY" = 1 ]; then
  PARITY_EPOCHS_UCF=1 FFNERV_PEER_EPOCHS=1
else
  PARITY_EPOCHS_UCF=${PARITY_EPOCHS_UCF:-200}
  FFNERV_PEER_EPOCHS=${FFNERV_PEER_EPOCHS:-25}
fi
log "suite checks: $NGPU GPU(s)"
prepare_data ucf101_mini

# the UCF101 clips are one batch an epoch: no loader workers to start every epoch
( parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget
  parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 281
  [ "$NGPU" -ge 4 ] && parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget --seed 1 ) &
( parity 1 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget --same-init
  parity 1 ucf101_mini "$PARITY_EPOCHS_UCF" 0 281 --same-init
  [ "$NGPU" -ge 4 ] && parity 1 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget --seed 2 ) &

log "start ffnerv_peer (float32 both sides)"
( on_gpu 2 timeout "$(limit 500)" python3 benchmarks/peer_ffnerv.py --official "$PEERS/FFNeRV" $TINY_FLAG \
    --frames bunny --size 640x1280 --epochs "$FFNERV_PEER_EPOCHS" --params 3e6 --ours-amp none \
    --device "$([ "$TINY" = 1 ] && echo cpu || echo cuda)" --out "$OUT/peer_ffnerv_bunny.jsonl" \
    --profile > "$WORK/peer_ffnerv.log" 2>&1
  log "end ffnerv_peer rc=$? $(tail -n 2 "$WORK/peer_ffnerv.log" | tr '\n' ' ')"
  # where our bf16 step's time goes, beside the official fp32 one (2 epochs, profiled)
  on_gpu 2 timeout "$(limit 120)" python3 benchmarks/peer_ffnerv.py --official "$PEERS/FFNeRV" $TINY_FLAG \
    --frames bunny --size 640x1280 --epochs 2 --params 3e6 --ours-amp bfloat16 --profile --out "$OUT/peer_ffnerv_bunny.jsonl" \
    --device "$([ "$TINY" = 1 ] && echo cpu || echo cuda)" > "$WORK/peer_ffnerv_bf16_profile.log" 2>&1
  log "end ffnerv_peer bf16 profile rc=$?" ) &

log "start nerv seeds"
for seed in ${NERV_SEEDS:-0 1 2}; do
  python3 benchmarks/anchors/bunny.py run --out "$WORK/seed$seed" --work "$WORK/seed${seed}_work" \
    $([ "$TINY" = 1 ] && echo --tiny || echo --gpus "$(seq -s, 0 $(( NGPU - 1 )))") --protocols hnerv --codecs nerv \
    --parameters 1.5 --place nerv:hnerv=3 --tag "s$seed" --cfg-options "seed=$seed" --classical '' \
    --deadline-s "$(( DEADLINE - $(elapsed) - 10 ))" --max-fit-s 480 --reserve-s 40 --prefit-s 0 \
    > "$WORK/seed$seed.log" 2>&1 &
done
wait
log "end suite checks"
cat "$WORK"/seed*/anchors_bunny.jsonl > "$OUT/anchors_bunny_seeds.jsonl" 2>/dev/null
tail -n 3 "$WORK"/seed*.log >> "$OUT/timeline.txt"
mkdir -p "$OUT/logs"; cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
