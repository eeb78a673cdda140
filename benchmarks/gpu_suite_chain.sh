#!/usr/bin/env bash
# GPU session 6 (issues 11 and 13): the Bunny anchors whose fits outlast one call, run as a
# chain of calls on one warm machine of 4 GPUs, the same command each call. The work dirs
# live in the repository's ignored .gpu_work/ (a warm machine keeps ignored outputs between
# calls); every fit stopped by its time limit is continued by the next call (--resume), and
# finished runs are kept. Every call appends what finished to $OUT.
#   GPU 0  NeRV-S on the full 720x1280 (NeRV paper: batch 1, 300 epochs)
#   GPU 1  FFNeRV at 0.35M and 1.5M on the 640x1280 crop, FFNERV_EPOCHS (default 150)
#   GPU 2  FFNeRV at 0.75M and 3M
#   GPU 3  NeRV on the crop at the HNeRV models' parameter counts, 300 epochs, and at
#          FFNERV_EPOCHS (tag e<N>): FFNeRV beside NeRV at equal epochs and bpp
#   CPUs   H.264 and HEVC at every INR's measured bpp
# With PARITY=1 (a later call), the D-NeRV parity runs (benchmarks/peer_dnerv.py) follow
# on GPU 0 (the built-in set) and GPU 3 (the UCF101 clips) once their anchors are done.
#
# Usage: OUT=/some/dir CALL=1 bash benchmarks/gpu_suite_chain.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
CHAIN=${CHAIN:-.gpu_work}
FFNERV_EPOCHS=${FFNERV_EPOCHS:-150}
PEERS=${PEERS:-.device_carry/peers}
mkdir -p "$CHAIN"
log "suite chain, call ${CALL:-1}: $NGPU GPU(s), FFNeRV at $FFNERV_EPOCHS epochs"
# this call's records only (the driver appends to its --out)
rm -rf "$WORK/nerv720" "$WORK/crop" "$WORK/crop_e$FFNERV_EPOCHS"
if [ "$TINY" = 1 ]; then
  ANCHOR=(--tiny --gpus "")
  PARITY_EPOCHS_UCF=1 PARITY_EPOCHS_BUILTIN=1
else
  ANCHOR=(--gpus 0,1,2,3)
  PARITY_EPOCHS_UCF=${PARITY_EPOCHS_UCF:-200} PARITY_EPOCHS_BUILTIN=${PARITY_EPOCHS_BUILTIN:-30}
fi
left() { echo $(( DEADLINE - $(elapsed) - 10 )); }
anchors() {  # NAME ARGS...: one anchors driver, its records and logs under $WORK/NAME
  local name=$1; shift
  python3 benchmarks/anchors/bunny.py run --out "$WORK/$name" --work "$CHAIN/$name" --resume \
    "${ANCHOR[@]}" --deadline-s "$(left)" --max-fit-s "${MAX_FIT_S:-470}" --reserve-s 75 \
    --prefit-s 0 "$@" > "$WORK/$name.log" 2>&1
  log "end anchors $name rc=$?"
  tail -n 12 "$WORK/$name.log" >> "$OUT/timeline.txt"
}

log "start anchors"
anchors nerv720 --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' --place 'nerv:nerv=0' \
  --per-gpu 1 --cpu-slots 4 &
NERV720=$!
anchors crop --protocols hnerv --codecs nerv,ffnerv --epochs "nerv=300,ffnerv=$FFNERV_EPOCHS" \
  --place 'nerv:hnerv=3,ffnerv=1/2' --per-gpu 4 --cpu-slots 8 &
CROP=$!
anchors crop_e"$FFNERV_EPOCHS" --protocols hnerv --codecs nerv --epochs "$FFNERV_EPOCHS" \
  --tag e"$FFNERV_EPOCHS" --place 'nerv:hnerv=3' --per-gpu 4 --classical '' &
EQUAL=$!

if [ "${PARITY:-0}" = 1 ]; then
  prepare_data ucf101_mini builtin
  # the UCF101 clips are one batch an epoch: no loader workers to start every epoch
  ( wait_pid() { while kill -0 "$1" 2>/dev/null; do sleep 3; done; }
    wait_pid $EQUAL
    parity 3 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget
    parity 3 ucf101_mini "$PARITY_EPOCHS_UCF" 0 281 ) &
  UCF=$!
  ( while kill -0 $NERV720 2>/dev/null; do sleep 3; done
    parity 0 builtin "$PARITY_EPOCHS_BUILTIN" 6 budget
    parity 0 builtin "$PARITY_EPOCHS_BUILTIN" 6 281 ) &
  BUILTIN=$!
fi
wait $NERV720 $CROP $EQUAL ${UCF:-} ${BUILTIN:-}
log "end call ${CALL:-1}"

# what came back: the records of this call (a later call appends again; the report keeps the
# last record of each source), and one archive of the logs
for name in nerv720 crop crop_e"$FFNERV_EPOCHS"; do
  cat "$WORK/$name/anchors_bunny.jsonl" >> "$OUT/anchors_bunny.jsonl" 2>/dev/null
done
mkdir -p "$OUT/logs"
cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null
for name in nerv720 crop crop_e"$FFNERV_EPOCHS"; do
  mkdir -p "$OUT/logs/$name"; cp "$WORK/$name"/logs/*.log "$WORK/$name"/*.json "$OUT/logs/$name/" 2>/dev/null
done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
