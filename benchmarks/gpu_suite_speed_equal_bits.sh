#!/usr/bin/env bash
# GPU session 3: what the first two sessions left open, on one machine of 4 GPUs.
#
#   GPU 3, alone: benchmarks/dnerv_speed.py for D-NeRV-L (fp32, bf16), torch.compile for
#          S and L (bf16) and M (fp32), decoding with keyframe decoding (built-in keyframes)
#   GPU 2, alone: D-NeRV-M bf16 under the profiler, eager and compiled, with the paper's
#          widths and with widths rounded to multiples of 8; CUDA graphs; larger batches
#   GPUs 0-1: FFNeRV on the built-in set (one network per video, spread over torchrun's
#          processes), then TSM on it (both settings; the raw fit first, on GPU 0)
#   CPU: H.264 and HEVC at the bpp each INR source reached (sources named
#          <codec>_at_<inr source>), on the built-in set and the UCF101 clips: the
#          equal-bits comparison. Targets come from the recorded INR results (RESULTS).
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_speed_equal_bits.sh     (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
RESULTS=${RESULTS:-docs/results/data/compression_h200_2026-11-21_v2.jsonl}
if [ "$TINY" = 0 ]; then
  FFNERV_EPOCHS=${FFNERV_EPOCHS:-200} TSM_EPOCHS=${TSM_EPOCHS:-60} FFNERV_PROCS=${FFNERV_PROCS:-12}
else
  FFNERV_EPOCHS=1 TSM_EPOCHS=1 FFNERV_PROCS=2
fi
DS=builtin
TSM_WORK=$WORK/tsm_$DS
log "suite speed/equal bits: $NGPU GPU(s), ffnerv $FFNERV_EPOCHS epochs on $FFNERV_PROCS processes, tsm $TSM_EPOCHS"
prepare_data builtin ucf101_mini

speed() {  # GPU SECONDS NAME ARGS...: one dnerv_speed.py run, JSON and log in $WORK/speed/
  local g=$1 want=$2 name=$3; shift 3
  mkdir -p "$WORK/speed"
  log "start speed $name"
  on_gpu "$g" timeout "$(limit "$want")" python3 benchmarks/dnerv_speed.py --repeats 3 \
    --out "$WORK/speed/$name.json" "$@" > "$WORK/speed/$name.log" 2>&1
  log "end speed $name rc=$? $(grep -c fps "$WORK/speed/$name.log") rows"
}
tsm() {  # GPU SOURCE: TSM on SOURCE, both settings
  local g=$1 src=$2
  log "start tsm $src"
  on_gpu "$g" timeout "$(limit 240)" python3 tools/train_tsm.py --data-root "$DATA/$DS" --source "$src" \
    --setting both --config configs/tsm/tsm_r18_builtin.py --work-dir "$TSM_WORK" \
    --cfg-options train_cfg.max_epochs="$TSM_EPOCHS" train_cfg.val_interval=20 \
    train_dataloader.num_workers=6 val_dataloader.num_workers=2 test_dataloader.num_workers=2 \
    > "$WORK/tsm_$src.log" 2>&1
  log "end tsm $src rc=$? $(grep -h -o '"top1": [0-9.]*' "$TSM_WORK"/*_"$src"/results.json 2>/dev/null | tr '\n' ' ')"
}
# inr_bpp DATASET SOURCE: the bpp an INR source reached, from the recorded results
inr_bpp() {
  python3 - "$RESULTS" "$1" "$2" <<'PY'
import json, sys
path, dataset, source = sys.argv[1:]
for line in open(path):
    row = json.loads(line)
    if row.get("dataset") == dataset and row["source"] == source:
        print(row["bpp"])
        break
PY
}
# matched DATASET INR_SOURCE: H.264 and HEVC at the bpp of INR_SOURCE (recorded, or on disk)
matched() {
  local ds=$1 inr=$2 size=${2#*_} bpp codec
  size=${size%%_*}
  bpp=$(inr_bpp "$ds" "$inr")
  [ -z "$bpp" ] && bpp=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['bpp'])" "$DATA/$ds/$inr/manifest.json" 2>/dev/null)
  [ -z "$bpp" ] && { log "skip matched $ds $inr: no bpp"; return; }
  for codec in h264 hevc; do
    compress 0 "$ds" "$codec" "$size" 200 target_bpp="$bpp" output="${codec}_at_$inr"
  done
}

# ---- GPU 3: speed, sizes and compile ----------------------------------------------------
if [ "$TINY" = 0 ]; then
  (
    speed 3 150 L_eager --sizes L --dtypes float32 bfloat16 --keyframes-from "$DATA/$DS/raw"
    speed 3 200 SL_bf16_compile --sizes S L --dtypes bfloat16 --compile yes
    speed 3 120 M_fp32_compile --sizes M --dtypes float32 --compile yes
  ) &
  # ---- GPU 2: where the time goes, and what helps ---------------------------------------
  (
    speed 2 120 M_bf16_profile --sizes M --dtypes bfloat16 --width-multiple 1 8 \
      --profile "$WORK/profiles" --keyframes-from "$DATA/$DS/raw"
    speed 2 200 M_bf16_compile_profile --sizes M --dtypes bfloat16 --compile yes --width-multiple 1 8 \
      --profile "$WORK/profiles"
    speed 2 100 M_bf16_cudagraphs --sizes M --dtypes bfloat16 --compile yes --compile-mode reduce-overhead
    speed 2 60 M_bf16_clips64 --sizes M --dtypes bfloat16 --clips 64
  ) &
fi

# ---- GPUs 0-1: FFNeRV on the built-in set, then TSM on it --------------------------------
tsm 0 raw &
(
  wd=$WORK/$DS/ffnerv_M
  mkdir -p "$WORK/$DS"
  log "start compress $DS ffnerv_M ($FFNERV_PROCS processes)"
  CUDA_VISIBLE_DEVICES=0,1 timeout "$(limit 330)" python3 -m torch.distributed.run --nproc_per_node "$FFNERV_PROCS" \
    --master_port 29517 tools/compress_dataset.py --source-root "$DATA/$DS" --codec ffnerv --size M \
    --work-dir "$wd" --launcher pytorch --cfg-options workers=4 fit.max_epochs=$FFNERV_EPOCHS $TINY_ALL > "$wd.log" 2>&1
  rc=$?; jsonl "$wd/results.json" "$OUT/compression.jsonl"
  log "end compress $DS ffnerv_M rc=$rc $(python3 -c "import json,sys;r=json.load(open(sys.argv[1]));print(f\"bpp={r['bpp']:.4f} psnr={r['psnr']:.2f}\")" "$wd/results.json" 2>/dev/null)"
  [ "$rc" = 0 ] || exit 0
  matched "$DS" ffnerv_M &
  wait_for "$TSM_WORK/test_raw/results.json" && tsm 1 ffnerv_M
  wait
) &

# ---- CPU: the classical codecs at the INR sources' bpp ----------------------------------
(for inr in dnerv_S dnerv_M dnerv_L; do matched "$DS" "$inr"; done) &
(for inr in nerv_S nerv_M nerv_L; do matched "$DS" "$inr"; done) &
(for inr in dnerv_S dnerv_M dnerv_L nerv_M ffnerv_M; do matched ucf101_mini "$inr"; done) &
wait
log "all jobs ended"

# ---- tables, logs (at most 8 files come back: the rest is in logs.tgz) ------------------
python3 tools/report_compression.py "$OUT/compression.jsonl" --out "$OUT/rd_new.png" > "$OUT/compression_table.md" 2>&1
python3 tools/gather_tsm_results.py --work-root "$TSM_WORK" --out "$WORK/tsm_builtin" > /dev/null 2>&1
cp "$WORK/tsm_builtin.md" "$OUT/" 2>/dev/null
python3 - "$WORK/speed" "$OUT/dnerv_speed.json" <<'PY' 2>/dev/null
import json, sys  # every speed run's rows in one file, with the facts of the first
from pathlib import Path
runs = {p.stem: json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("*.json"))}
if runs:
    merged = dict(next(iter(runs.values())), rows=[], keyframe_decoding={}, commands={})
    for name, run in runs.items():
        merged["rows"] += [dict(row, run=name) for row in run["rows"]]
        merged["keyframe_decoding"].update(run.get("keyframe_decoding", {}))
        merged["commands"][name] = run.get("command")
    Path(sys.argv[2]).write_text(json.dumps(merged, indent=2))
PY
cat "$OUT/compression_table.md" "$OUT/tsm_builtin.md" 2>/dev/null
grep -h -E "fps|rror" "$WORK"/speed/*.log 2>/dev/null
tar czf "$OUT/logs.tgz" --exclude='*.pth' --exclude='*.mkv' --exclude='*.bits' --exclude='*.npz' \
  -C "$WORK" . 2>/dev/null
log "done"
