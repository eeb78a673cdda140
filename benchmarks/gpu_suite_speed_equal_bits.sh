#!/usr/bin/env bash
# GPU session 3: what the first two sessions left open, on one machine of 4 GPUs. Parts
# (PARTS, default all) and speed runs (SPEED_RUNS, default all; names below) can be chosen.
#
#   speed    GPU 3 (and 2), alone: benchmarks/dnerv_speed.py runs, each named:
#              L_eager                 D-NeRV-L fp32 and bf16, decoding with keyframe decoding
#              SL_bf16_compile, L_bf16_compile, M_fp32_compile    torch.compile per size
#              M_bf16_profile          M bf16 under the profiler, the paper's widths and x8
#              M_bf16_compile_profile  the same, compiled
#              M_bf16_cudagraphs       compile mode reduce-overhead
#              M_bf16_clips64          64 clips per batch
#              M_bf16_eager, M_bf16_compile                 baselines of this commit
#              M_bf16_compile_x8, M_bf16_compile_cl_x8   compiled, widths x8 (channels-last)
#              (the runs above compile the network alone; the loss runs eagerly)
#              M_bf16_step, M_bf16_step_x8, SL_bf16_step_x8   network and loss compiled together
#   fitcompile GPUs 0-1: the same short D-NeRV fit of the built-in set through
#            tools/compress_dataset.py with and without fit.compile.enabled=True
#   ffnerv   GPUs 0-1: FFNeRV on the built-in set and on the UCF101 clips (one network per
#            video, spread over torchrun's processes), then TSM on the built-in one (both
#            settings; the raw fit first, on GPU 2)
#   matched  CPU: H.264 and HEVC at the bpp each INR source reached (sources named
#            <codec>_at_<inr source>), on the built-in set and the UCF101 clips: the
#            equal-bits comparison. Targets come from the recorded INR results (RESULTS).
#
# Usage: OUT=/some/dir bash benchmarks/gpu_suite_speed_equal_bits.sh     (TINY=1: CPU dry run)
#        PARTS="speed ffnerv" SPEED_RUNS="L_bf16_compile M_bf16_compile_cl_x8" OUT=... bash ...
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
RESULTS=${RESULTS:-docs/results/data/compression_h200_2026-11-21_v2.jsonl}
PARTS=${PARTS:-speed ffnerv matched fitcompile}
SPEED_RUNS=${SPEED_RUNS:-L_eager SL_bf16_compile M_fp32_compile M_bf16_profile M_bf16_compile_profile M_bf16_cudagraphs M_bf16_clips64 M_bf16_compile_x8 M_bf16_compile_cl_x8 L_bf16_compile M_bf16_eager M_bf16_compile M_bf16_step M_bf16_step_x8 SL_bf16_step_x8}
# FFNeRV: batches of one frame (the config's default); the epochs and a per-network time
# limit keep the spread fits inside the session
if [ "$TINY" = 0 ]; then
  FFNERV_EPOCHS=${FFNERV_EPOCHS:-60} FFNERV_UCF_EPOCHS=${FFNERV_UCF_EPOCHS:-50} FFNERV_SECONDS=${FFNERV_SECONDS:-25}
  FFNERV_UCF_SECONDS=${FFNERV_UCF_SECONDS:-200} TSM_EPOCHS=${TSM_EPOCHS:-60} FFNERV_PROCS=${FFNERV_PROCS:-16}
else
  FFNERV_EPOCHS=1 FFNERV_UCF_EPOCHS=1 FFNERV_SECONDS=600 FFNERV_UCF_SECONDS=600 TSM_EPOCHS=1 FFNERV_PROCS=2
fi
part() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
DS=builtin
TSM_WORK=$WORK/tsm_$DS
log "suite speed/equal bits: $NGPU GPU(s), ffnerv $FFNERV_EPOCHS epochs on $FFNERV_PROCS processes, tsm $TSM_EPOCHS"
prepare_data builtin ucf101_mini

speed() {  # GPU SECONDS NAME ARGS...: one dnerv_speed.py run, JSON and log in $WORK/speed/
  local g=$1 want=$2 name=$3; shift 3
  case " $SPEED_RUNS " in *" $name "*) ;; *) return;; esac
  mkdir -p "$WORK/speed"
  log "start speed $name"
  on_gpu "$g" timeout "$(limit "$want")" python3 benchmarks/dnerv_speed.py --repeats 3 \
    --out "$WORK/speed/$name.json" "$@" > "$WORK/speed/$name.log" 2>&1
  log "end speed $name rc=$? $(grep -c fps "$WORK/speed/$name.log") rows"
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

# ---- speed: GPU 3 sizes and compile, GPU 2 where the time goes and what helps ---------
if [ "$TINY" = 0 ] && part speed; then
  (
    speed 3 150 L_eager --sizes L --dtypes float32 bfloat16 --keyframes-from "$DATA/$DS/raw"
    speed 3 200 SL_bf16_compile --sizes S L --dtypes bfloat16 --compile yes --compile-scope model
    speed 3 120 M_fp32_compile --sizes M --dtypes float32 --compile yes --compile-scope model
    speed 3 60 M_bf16_eager --sizes M --dtypes bfloat16
    speed 3 200 M_bf16_compile_cl_x8 --sizes M --dtypes bfloat16 --compile yes --compile-scope model --channels-last yes \
      --width-multiple 8 --profile "$WORK/profiles"
    speed 3 150 M_bf16_compile_x8 --sizes M --dtypes bfloat16 --compile yes --compile-scope model --width-multiple 8
    speed 3 150 M_bf16_step_x8 --sizes M --dtypes bfloat16 --compile yes --compile-scope step \
      --width-multiple 8 --profile "$WORK/profiles"
    speed 3 150 M_bf16_step --sizes M --dtypes bfloat16 --compile yes --compile-scope step
  ) &
  (
    # GPU 2 hosts TSM's raw fit when the ffnerv part runs: the runs here start after it
    part ffnerv && wait_for "$TSM_WORK/test_raw/results.json"
    speed 2 200 L_bf16_compile --sizes L --dtypes bfloat16 --compile yes --compile-scope model
    speed 2 150 M_bf16_compile --sizes M --dtypes bfloat16 --compile yes --compile-scope model
    speed 2 300 SL_bf16_step_x8 --sizes S L --dtypes bfloat16 --compile yes --compile-scope step --width-multiple 8
    speed 2 120 M_bf16_profile --sizes M --dtypes bfloat16 --width-multiple 1 8 \
      --profile "$WORK/profiles" --keyframes-from "$DATA/$DS/raw"
    speed 2 200 M_bf16_compile_profile --sizes M --dtypes bfloat16 --compile yes --compile-scope model --width-multiple 1 8 \
      --profile "$WORK/profiles"
    speed 2 100 M_bf16_cudagraphs --sizes M --dtypes bfloat16 --compile yes --compile-scope model --compile-mode reduce-overhead
    speed 2 60 M_bf16_clips64 --sizes M --dtypes bfloat16 --clips 64
  ) &
fi

# ---- ffnerv: the built-in set on GPUs 0-1, the UCF101 clips on GPU 2, then TSM ----------
ffnerv() {  # DATASET GPUS PROCS EPOCHS SECONDS PORT: FFNeRV at M, spread over torchrun's processes
  PROCS=$3 PORT=$6 compress "$2" "$1" ffnerv M 330 fit.max_epochs="$4" fit.max_time_s="$5"
}
if part ffnerv; then
  tsm 2 raw &
  (ffnerv "$DS" 0,1 "$FFNERV_PROCS" "$FFNERV_EPOCHS" "$FFNERV_SECONDS" 29517 \
    && wait_for "$TSM_WORK/test_raw/results.json" && tsm 0 ffnerv_M) &
  ffnerv ucf101_mini 0,1 6 "$FFNERV_UCF_EPOCHS" "$FFNERV_UCF_SECONDS" 29521 &
fi

# ---- fitcompile: a real fit through the compression tool, compiled and not -------------
if [ "$TINY" = 0 ] && part fitcompile; then
  compress 0 "$DS" dnerv M 240 fit.max_epochs=10 fit.batch_size=8 fit.num_workers=6 output=dnerv_M_eager &
  compress 1 "$DS" dnerv M 240 fit.max_epochs=10 fit.batch_size=8 fit.num_workers=6 fit.compile.enabled=True \
    output=dnerv_M_compiled &
fi

# ---- matched: the classical codecs at the INR sources' bpp (CPU) ------------------------
if part matched; then
  (for inr in dnerv_S dnerv_M dnerv_L ffnerv_M; do matched "$DS" "$inr"; done) &
  (for inr in nerv_S nerv_M nerv_L; do matched "$DS" "$inr"; done) &
  (for inr in dnerv_S dnerv_M dnerv_L nerv_M ffnerv_M; do matched ucf101_mini "$inr"; done) &
fi
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
