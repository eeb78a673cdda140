#!/usr/bin/env bash
# GPU session 4 (issues 11 and 13): the Big Buck Bunny anchors and the official peers, on one
# machine of 4 GPUs. Parts (PARTS, default all):
#   anchors   benchmarks/anchors/bunny.py: NeRV (both protocols), FFNeRV and D-NeRV on the
#             640x1280 crop at 0.35 / 0.75 / 1.5 / 3M parameters, H.264/HEVC at their bpp
#             (ANCHOR_CODECS picks the INR codecs, default nerv,ffnerv,dnerv)
#   ffnerv_peer   benchmarks/peer_ffnerv.py: the official FFNeRV beside ours on Bunny
#   dnerv_parity  benchmarks/peer_dnerv.py parity on the built-in set
#   dnerv_speed   benchmarks/peer_dnerv.py speed, S/M/L, official and ours, one GPU alone
# Peers are read from .device_carry/peers/<name> (checkouts kept outside the repository,
# copied there for the call; never committed).
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_anchors.sh        (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
PARTS=${PARTS:-anchors ffnerv_peer dnerv_parity dnerv_speed}
ANCHOR_CODECS=${ANCHOR_CODECS:-nerv,ffnerv,dnerv}
PEERS=${PEERS:-.device_carry/peers}
part() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
TINY_FLAG=$([ "$TINY" = 1 ] && echo --tiny)
log "suite anchors: $NGPU GPU(s), parts: $PARTS"

if part anchors; then
  log "start anchors ($ANCHOR_CODECS)"
  python3 benchmarks/anchors/bunny.py run --out "$OUT" --work "$WORK/anchors" $TINY_FLAG \
    --codecs "$ANCHOR_CODECS" --gpus "$(seq -s, 0 $(( NGPU - 1 )))" \
    --deadline-s "$(( DEADLINE - $(elapsed) - 10 ))" ${ANCHOR_ARGS:-} > "$OUT/anchors.log" 2>&1 &
  ANCHORS_PID=$!
fi
if part dnerv_speed; then
  # the official D-NeRV's train.py step and decoding beside ours, alone on its GPU while the
  # D-NeRV anchors code their keyframes on the CPU (DNERV_SPEED_SECONDS keeps it alone)
  log "start dnerv_speed"
  on_gpu "${DNERV_SPEED_GPU:-3}" timeout "$(limit "${DNERV_SPEED_SECONDS:-140}")" python3 benchmarks/peer_dnerv.py speed \
    --official "$PEERS/D-NeRV" $TINY_FLAG --sizes ${DNERV_SPEED_SIZES:-M} \
    --project-settings ${DNERV_SPEED_SETTINGS:-bf16 bf16,channels_last} \
    --out "$OUT/dnerv_speed_vs_official.jsonl" > "$WORK/dnerv_speed.log" 2>&1 &
  SPEED_PID=$!
fi
if part ffnerv_peer; then
  # the official FFNeRV beside ours (same frames, parameters, epochs), on the GPU of --place ffnerv_peer
  log "start ffnerv_peer"
  on_gpu "${FFNERV_PEER_GPU:-2}" timeout "$(limit 600)" python3 benchmarks/peer_ffnerv.py \
    --official "$PEERS/FFNeRV" $TINY_FLAG --frames bunny --size 640x1280 \
    --epochs "${FFNERV_PEER_EPOCHS:-30}" --params 3e6 --device "$([ "$TINY" = 1 ] && echo cpu || echo cuda)" \
    --out "$OUT/peer_ffnerv_bunny.jsonl" > "$WORK/peer_ffnerv.log" 2>&1 &
  PEER_PID=$!
fi
wait ${ANCHORS_PID:-}
log "end anchors rc=$?"
wait ${PEER_PID:-}
log "end ffnerv_peer rc=$?"
wait ${SPEED_PID:-}
log "end dnerv_speed rc=$?"
tail -n 40 "$OUT/anchors.log" 2>/dev/null
# one archive of the logs: few files come back from the GPU machine
mkdir -p "$OUT/logs"; cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
