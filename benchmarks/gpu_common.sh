# Shared by the GPU suites (sourced): offline wheels, data, job placement, result collection.
#
# Conventions: wheels from tools/build_wheelhouse.py in .whl/, real clips in .device_carry/
# (copies of shared/data), the commit in .device_carry/COMMIT (`git describe --always
# --dirty > .device_carry/COMMIT` before the call: the GPU copy of the tree has no .git).
# Every job gets a time limit that ends it before DEADLINE (seconds after the start), and
# every result lands in $OUT as soon as it exists, so a cut-off run keeps what finished.
# TINY=1 runs the same suite on a CPU with tiny data and 1-epoch fits (a dry run).
set -uo pipefail
export TOOLKIT_COMMIT=${TOOLKIT_COMMIT:-$(cat .device_carry/COMMIT 2>/dev/null || git describe --always --dirty 2>/dev/null)}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:?set OUT to the results folder}
TINY=${TINY:-0}
DEADLINE=${DEADLINE:-540}
DATA=${DATA:-/tmp/data}
WORK=${WORK:-/tmp/work}
START=$(date +%s)
mkdir -p "$OUT" "$DATA" "$WORK"
if [ "$TINY" = 0 ] && [ -d .whl ]; then
  # once per machine: a suite started beside another must not reinstall under its imports
  if [ "$(cat /tmp/site/.wheels 2>/dev/null)" != "$(ls .whl)" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    ls .whl > /tmp/site/.wheels
  fi
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
[ "$NGPU" -ge 1 ] || NGPU=1
CPUS=$(env -u OMP_NUM_THREADS nproc)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/timeline.txt" 2>/dev/null \
  || echo "no GPU (CPU dry run)" >> "$OUT/timeline.txt"
echo "commit ${TOOLKIT_COMMIT:-unknown}; $(date -u +%FT%TZ); $CPUS CPUs; python $(python3 -c 'import sys,torch;print(sys.version.split()[0], "torch", torch.__version__)')" >> "$OUT/timeline.txt"

elapsed() { echo $(( $(date +%s) - START )); }
log() { echo "[$(printf '%4d' "$(elapsed)")s] $*" | tee -a "$OUT/timeline.txt"; }
# limit WANT: WANT seconds, or what is left before the deadline (minus a margin) if less
limit() { local left=$(( DEADLINE - $(elapsed) - 5 )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }
# on_gpu G COMMAND...: run on GPU G (modulo the GPUs there are)
on_gpu() { local g=$1; shift; CUDA_VISIBLE_DEVICES=$(( g % NGPU )) "$@"; }
jsonl() { [ -f "$1" ] && python3 -c "import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))" "$1" >> "$2"; }
# wait_for FILE...: block until every file exists or the deadline is near
wait_for() { local f; for f in "$@"; do while [ ! -e "$f" ] && [ "$(elapsed)" -lt $(( DEADLINE - 20 )) ]; do sleep 3; done; done; [ -e "${@: -1}" ]; }

# compress GPU DATASET CODEC SIZE SECONDS [cfg options...]  (output=NAME renames the source)
# With PROCS set (PROCS=N PORT=P compress GPUS ...), N processes under torchrun on the GPU
# list GPUS (e.g. 0,1), --launcher pytorch. Returns the tool's exit status.
compress() {
  local g=$1 ds=$2 codec=$3 size=$4 want=$5 name=${3}_$4 o gpus; shift 5
  for o in "$@"; do case $o in output=*) name=${o#output=};; esac; done
  local wd=$WORK/$ds/$name launch=(python3) launcher=()
  if [ -n "${PROCS:-}" ]; then
    gpus=$g launch=(python3 -m torch.distributed.run --nproc_per_node "$PROCS" --master_port "${PORT:-29500}")
    launcher=(--launcher pytorch)
  else
    gpus=$(( g % NGPU ))
  fi
  mkdir -p "$WORK/$ds"
  log "start compress $ds $name${PROCS:+ ($PROCS processes on GPUs $g)}"
  CUDA_VISIBLE_DEVICES=$gpus timeout "$(limit "$want")" "${launch[@]}" tools/compress_dataset.py \
    --source-root "$DATA/$ds" --codec "$codec" --size "$size" --work-dir "$wd" "${launcher[@]}" \
    --cfg-options workers=4 "$@" $TINY_ALL \
    $(case $codec in nerv|dnerv|ffnerv) echo "$TINY_INR";; esac) > "$wd.log" 2>&1
  local rc=$?
  jsonl "$wd/results.json" "$OUT/compression.jsonl"
  log "end compress $ds $name rc=$rc $(python3 -c "import json,sys;r=json.load(open(sys.argv[1]));print(f\"bpp={r['bpp']:.4f} psnr={r['psnr']:.2f} fit={r['fit_time_s']:.0f}s\")" "$wd/results.json" 2>/dev/null)"
  return $rc
}

# tsm GPU SOURCE: TSM on a decoded source of $DATA/$DS, both settings, into $TSM_WORK
tsm() {
  local g=$1 src=$2
  log "start tsm $src"
  on_gpu "$g" timeout "$(limit 240)" python3 tools/train_tsm.py --data-root "$DATA/$DS" --source "$src" \
    --setting both --config configs/tsm/tsm_r18_builtin.py --work-dir "$TSM_WORK" \
    --cfg-options train_cfg.max_epochs="$TSM_EPOCHS" train_cfg.val_interval=20 \
    train_dataloader.num_workers=6 val_dataloader.num_workers=2 test_dataloader.num_workers=2 \
    > "$WORK/tsm_$src.log" 2>&1
  log "end tsm $src rc=$? $(grep -h -o '"top1": [0-9.]*' "$TSM_WORK"/*_"$src"/results.json 2>/dev/null | tr '\n' ' ')"
}

# parity GPU DATASET EPOCHS WORKERS FC_DIM [more peer_dnerv.py options]: benchmarks/peer_dnerv.py
# parity, the official D-NeRV (checkout in $PEERS/D-NeRV) and ours trained alike on
# $DATA/DATASET, both in float32 (the official train.py's precision), FC_DIM "budget" or a
# number; into $OUT/dnerv_parity.jsonl
parity() {
  local g=$1 ds=$2 epochs=$3 workers=$4 fc=$5; shift 5
  local name="parity_${ds}_$fc$(echo "$*" | tr -c 'a-z0-9' '_')"
  log "start dnerv_parity $ds fc_dim=$fc $* (gpu $g)"
  on_gpu "$g" timeout "$(limit 400)" python3 benchmarks/peer_dnerv.py parity --official "${PEERS:-.device_carry/peers}/D-NeRV" \
    $([ "$TINY" = 1 ] && echo --tiny) --data-root "$DATA/$ds" --dataset-name "$ds" --size M --fc-dims "$fc" \
    --epochs "$epochs" --batch 32 --workers "$workers" --project-dtype float32 "$@" \
    --work-dir "$WORK/parity_${ds}_gpu$g" --out "$OUT/dnerv_parity.jsonl" > "$WORK/$name.log" 2>&1
  log "end dnerv_parity $ds fc_dim=$fc $* rc=$? $(tail -n 1 "$WORK/$name.log")"
}

# prepare_data NAME...: builtin (generated), ucf101_mini, hmdb51_mini (carried clips)
prepare_data() {
  local name
  for name in "$@"; do
    [ -f "$DATA/$name/raw/manifest.json" ] && { log "data $name: present"; continue; }
    case $name in
      builtin)
        python3 tools/make_builtin_dataset.py --out /tmp/builtin_videos --preset "$BUILTIN_PRESET" \
          --workers "$CPUS" --no-progress | tail -n 2
        python3 tools/prepare_dataset.py list --root /tmp/builtin_videos --out "$DATA/builtin" \
          --size "$FRAME_SIZE" --workers "$CPUS" --no-progress | tail -n 3 ;;
      ucf101_mini)
        python3 tools/prepare_dataset.py ucf101 --root .device_carry/ucf101_mini/UCF-101 \
          --splits-dir .device_carry/ucf101_splits --out "$DATA/ucf101_mini" --size "$FRAME_SIZE" \
          --workers 6 --no-progress | tail -n 3 ;;
      hmdb51_mini)
        python3 tools/prepare_dataset.py folders --root .device_carry/hmdb51_mini --out "$DATA/hmdb51_mini" \
          --size "$FRAME_SIZE" --workers 7 --no-progress | tail -n 3 ;;
    esac
    log "data $name: prepared"
  done
}

if [ "$TINY" = 0 ]; then
  BUILTIN_PRESET=default FRAME_SIZE=256x320 TINY_ALL="" TINY_INR=""
else
  BUILTIN_PRESET=tiny FRAME_SIZE=64x80 TINY_ALL="throughput.repeats=1" TINY_INR="fit.max_epochs=1"
fi
