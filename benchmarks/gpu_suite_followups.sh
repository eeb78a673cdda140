#!/usr/bin/env bash
# GPU session 7 (issues 11 and 13): what the closing note of session 6 left to run, on a warm
# machine of 2 GPUs over three chained calls (CALL=1, 2, 3; the same machine, DEADLINE each).
# Work dirs live in the repository's ignored .gpu_work/ (kept between calls on a warm machine):
# a fit stopped by its time limit is continued by the next call (--resume).
#
#   call 1  GPU 0  D-NeRV parity on the UCF101 clips from each side's own initial weights,
#                  after the recipe took the official mean/std (fc_dim budget and 281, seeds
#                  0 and 1): does the 1 dB gap close?
#           GPU 1  NeRV-S on 720x1280 in float32 (tag fp32; the paper's precision), and NeRV
#                  at 0.35M and 0.75M on the crop with the official encoding rounding, seeds
#                  0 and 1 (tags s0, s1)
#   call 2  GPU 0  benchmarks/dnerv_scaling.py: 1k, 10k, 100k frames (alone on its GPU)
#           GPU 1  the call-1 fits continued, then D-NeRV parity on the built-in set
#   call 3  GPU 0  benchmarks/peer_dnerv.py speed: the official model beside ours (eager and
#                  compiled; M in four settings, then S and L), alone on its GPU
#           GPU 1  the D-NeRV ablation after parity (tools/compress_dataset.py, the built-in
#                  set, full / no SAF / no GTMLP / no flow at one width and epochs, as
#                  compression.md's first ablation), and beside it the built-in parity (call 2
#                  ran out before it; a fresh machine may serve this call: it needs no fit of
#                  the earlier calls)
#   calls 4, 5 (next session, chained) GPU 0: D-NeRV parity at fc_dim 4, seeds 2-4, then the
#                  built-in parity alone, then S and L side by side; GPU 1: NeRV-S at the
#                  paper's width (fc_dim 26) in fp32, NeRV 1.5M with pe_rounding=float64
#                  (seeds 0, 1); FFNeRV for 300 epochs compiled (CUDA graphs): on 4 GPUs on
#                  GPU 2 beside the same fits eager on GPU 3, on 2 GPUs beside the parity runs
#                  (call 4) and the NeRV fits (call 5). Ran (session 8): the compiled FFNeRV
#                  fits did not learn (docs/results/anchors.md); fit.compile is now refused for
#                  FFNeRV on CUDA (session 9 replaced that by a first-batch gradient check)
#   calls 6, 7 (session 9, chained) GPU 0: FFNeRV 300 epochs eager in fp32 at all four budgets
#                  (continued); GPU 1: the compiled-FFNeRV bisect beside NeRV-S with
#                  frame_times=open (fp32) and NeRV 1.5M with pe_rounding=float64 and
#                  frame_times=open (seeds 0, 1)
#   calls 8-10 (session 9, one H200 lent, chained): calls 6-7 on one GPU, with the crop's
#                  NeRV at all four sizes in both official input codes (seed 0; 1.5M seed 1 too)
#   calls 11-13 (session 10, chained, two GPUs): GPU 0 the compiled FFNeRV step after the
#                  quantiser fix (bisect), FFNeRV 300 epochs compiled with CUDA graphs at the
#                  four budgets; GPU 1 NeRV-S with t = i / N in fp32 (seeds 0, 1), the crop's
#                  NeRV 1.5M seeds 2 and 3
#   calls 14-16 (session 11, chained): IEEE float32 (fit.tf32=False, now the NeRV anchor
#                  configs' setting) against the TF32 fits so far: the crop's NeRV 1.5M seeds
#                  0, 1 and NeRV-S with t = i / N seeds 0, 1; FFNeRV compiled to 300 epochs.
#                  Ran: 14, then 15 with NeRV-S seed 0 and the 1.5M fits taken out on the
#                  device (docs/results/anchors.md has the sed); 16 was not run (the machine
#                  was released, losing the chained fits)
#   call 17 (session 11, a fresh machine): the crop's NeRV 1.5M seeds 6-11, IEEE float32
#   calls 18-20 (each complete in itself on 2 GPUs): FFNeRV sized as NeRV to 300 epochs,
#                  two budgets a call; NeRV-S with t = i / N in TF32, seeds 0 (compiled), 1
#   call 21 (session 12, 4 GPUs, the same call chained until its fits end): calls 18-20 at
#                  once, one FFNeRV budget per GPU, NeRV-S seeds 0 / 1 beside the two small
#                  ones and D-NeRV at 1.5M / 3M for 300 epochs (80 so far) beside the two large
#   call 22 (session 12, 4 GPUs, chained): NeRV-S compiled, seeds 2-4; FFNeRV 0.35M seed 1
#   call 23: NeRV-S by the NeRV paper's own training code beside ours (peer_nerv_fit.py),
#                  2 GPUs a seed; chained until 300 epochs (run in session 12 for 50 epochs)
#   call 24 (session 13, 4 GPUs): FFNeRV sized as NeRV, 300 epochs, after the buffer fix;
#                  three other grid/decoder splits at 0.35M; NeRV 0.35M / 0.75M seeds 1, 2.
#                  Ran twice, each time on a fresh machine: the second did not continue the
#                  first, and no FFNeRV fit reached 300 epochs
#   call 25 (session 14, 4 GPUs, one call): FFNeRV at 0.35M to 300 epochs, one fit per GPU:
#                  the solver's network since it caps the grids at a third (seeds 0, 1), and
#                  the two other splits of call 24 that are not it
#   call 26 (session 14, 4 GPUs, one call): NeRV-S for 60 epochs four ways (peer_nerv_fit's
#                  plain loop; the anchors fit eager, compiled, and eager with a sync each
#                  step): what a step costs each way
#   call 23 ran again in session 14: PEER_EPOCHS=300 PEER_SEEDS="1 2" PEER_SAME_INIT=1
#   call 27 (session 14, 4 GPUs, one call): more seeds at 0.35M on both sides of call 25's
#                  comparison: FFNeRV (the capped solver's network) seeds 2, 3; NeRV seeds 3, 4
#   call 28 (one call, any number of GPUs): the HNeRV code's NeRV row at 1.5M (peer_nerv_fit.py
#                  --code hnerv), seeds 1-4, each beside ours from the same initial weights. Session 14
#                  ran it on 4 GPUs with DEADLINE=165 (its last device time): official 143-145 of
#                  300 epochs in 105 s, ours 290-295. Session 15 (one H200 lent): four fits at
#                  once on it, the official side (PEER_IMPLS=official) for seeds 1-4 and 5-8
#                  (PEER_SEEDS), then ours (PEER_IMPLS=ours) for the same seeds
#   call 29 (4 GPUs, one call; or a part of it): FFNeRV 0.75M / 1.5M / 3M to 300 epochs with the
#                  neighbour buffer filled, one per GPU; the HNeRV code's 1.5M seeds 5, 6
# Chained calls: a machine stays warm 30 s after a call. In sessions 11 and 13 more passed on
# our side, the next call found a fresh machine, and its fits started again from epoch 0. So
# a call is written to finish its fits itself; the suite says at its start whether earlier
# work is there to continue.
# The official D-NeRV is read from .device_carry/peers/D-NeRV (a checkout kept outside the
# repository, copied there for the call; never committed).
#
# Usage: OUT=/some/dir CALL=1 bash benchmarks/gpu_suite_followups.sh   (TINY=1: CPU dry run)
cd "$(dirname "$0")/.." || exit 1
. benchmarks/gpu_common.sh
CALL=${CALL:-1}
CHAIN=${CHAIN:-.gpu_work/followups}
PEERS=${PEERS:-.device_carry/peers}
mkdir -p "$CHAIN"
TINY_FLAG=$([ "$TINY" = 1 ] && echo --tiny)
if [ "$TINY" = 1 ]; then
  PARITY_EPOCHS_UCF=1 PARITY_EPOCHS_BUILTIN=1 ABLATION_EPOCHS=1 ABLATION_SECONDS=600
  SCALING_FRAMES="64 256" SCALING_EPOCHS=1 SPEED_M=(--sizes M --repeats 1 --warmup 1
  --project-settings bf16 bf16,compile,channels_last) SPEED_SL=(--sizes S --repeats 1 --warmup 1
  --project-settings bf16)
else
  PARITY_EPOCHS_UCF=${PARITY_EPOCHS_UCF:-200} PARITY_EPOCHS_BUILTIN=${PARITY_EPOCHS_BUILTIN:-25}
  ABLATION_EPOCHS=${ABLATION_EPOCHS:-40} ABLATION_SECONDS=${ABLATION_SECONDS:-450}
  SCALING_FRAMES=${SCALING_FRAMES:-1000 10000 100000} SCALING_EPOCHS=${SCALING_EPOCHS:-3 3 2}
  # M first, in every setting; then S and L in the paper's widths (each compile costs a minute)
  SPEED_M=(--sizes M --repeats 3 --warmup 2 --project-settings bf16 bf16,compile
  bf16,compile,channels_last bf16,compile,x8,channels_last)
  SPEED_SL=(--sizes S L --repeats 3 --warmup 2 --project-settings bf16 bf16,compile)
fi
log "suite followups, call $CALL: $NGPU GPU(s)"
if [ -n "$(ls -A "$CHAIN" 2>/dev/null)" ]; then
  log "earlier work in $CHAIN: fits stopped by their time limit continue (--resume)"
else
  log "no earlier work in $CHAIN (a fresh machine): every fit starts at epoch 0"
fi
left() { echo $(( DEADLINE - $(elapsed) - 10 )); }
# peer_nerv_fit.py --max-time-s: what is left, less 40 s to evaluate and write its record
peer_left() { echo $(( $(left) > 100 ? $(left) - 40 : 60 )); }
# compiled with CUDA graphs (FFNeRV in calls 11-19, NeRV-S seed 0 in call 20); on the CPU, AOTAutograd without inductor
COMPILED_CUDA_GRAPHS=(fit.compile.enabled=True fit.compile.mode=reduce-overhead)
[ "$TINY" = 1 ] && COMPILED_CUDA_GRAPHS=(fit.compile.enabled=True fit.compile.backend=aot_eager)
FFNERV_FP32_COMPILED=(fit.amp=None "${COMPILED_CUDA_GRAPHS[@]}")

need_gpus() {  # N [WHY]: end the call unless N GPUs are here (a CPU dry run needs none)
  if [ "$NGPU" -lt "$1" ] && [ "$TINY" != 1 ]; then
    log "call $CALL needs $1 GPUs${2:+ ($2)}; $NGPU here: nothing run"
    exit 1
  fi
}

anchors() {  # GPU NAME ARGS...: one anchors driver on one GPU. Its records land in
  # $OUT/anchors/NAME as each fit ends (a call cut off by the device's limit keeps them);
  # the driver's log in $WORK/NAME.log
  local g=$1 name=$2 where=(--gpus "$(( $1 % NGPU ))"); shift 2
  [ "$TINY" = 1 ] && where=(--tiny --gpus "")
  rm -rf "${OUT:?}/anchors/$name"
  python3 benchmarks/anchors/bunny.py run --out "$OUT/anchors/$name" --work "$CHAIN/$name" --resume "${where[@]}" \
    --deadline-s "$(left)" --max-fit-s "${MAX_FIT_S:-480}" --reserve-s 60 --prefit-s 0 \
    --classical '' "$@" > "$WORK/$name.log" 2>&1
  log "end anchors $name rc=$?"
  tail -n 8 "$WORK/$name.log" >> "$OUT/timeline.txt"
  cat "$OUT/anchors/$name/anchors_bunny.jsonl" >> "$OUT/anchors_bunny.jsonl" 2>/dev/null
}

ffnerv_as_nerv() {  # NAME TAG BUDGET...: FFNeRV at the parameter counts of the NeRV rows
  # (--sized-as), compiled fp32, 300 epochs, one fit a GPU (the i-th budget on GPU i), in the
  # background
  local name=$1 tag=$2 i=0 budget; shift 2
  for budget in "$@"; do
    anchors "$i" "${name}_$budget" --protocols hnerv --codecs ffnerv --parameters "$budget" \
      --sized-as ffnerv=nerv --tag "$tag" --per-gpu 1 --cfg-options "${FFNERV_FP32_COMPILED[@]}" &
    i=$(( i + 1 ))
  done
}

ffnerv_shape() {  # GPU NAME TAG CHANNELS WIDTH LENGTHS: FFNeRV at NeRV's 0.35M count with this
  # split between grids and decoder (grid channels, first width, grid lengths), compiled fp32,
  # 300 epochs, in the background
  local g=$1 name=$2 tag=$3 channels=$4 width=$5 lengths=$6
  anchors "$g" "$name" --protocols hnerv --codecs ffnerv --parameters 0.35 \
    --sized-as ffnerv=nerv --tag "$tag" --per-gpu 1 \
    --cfg-options "${FFNERV_FP32_COMPILED[@]}" codec.network.channels="$channels" \
    codec.network.first_width="$width" codec.network.grid_lengths="$lengths" &
}

peer_nerv_fit() {  # GPU NAME SECONDS ARGS...: benchmarks/peer_nerv_fit.py on one GPU for at most
  # SECONDS (and within the deadline), in the background; its last line (the result) into the
  # timeline. The official code: $PEERS/NeRV, or $PEERS/HNeRV with --code hnerv
  local g=$1 name=$2 seconds=$3 official=$PEERS/NeRV; shift 3
  [[ " $* " == *" --code hnerv "* ]] && official=$PEERS/HNeRV
  ( on_gpu "$g" timeout "$(limit "$seconds")" python3 benchmarks/peer_nerv_fit.py --official "$official" \
      $TINY_FLAG --device "$([ "$TINY" = 1 ] && echo cpu || echo cuda)" \
      --out "$OUT/peer_nerv_fit.jsonl" "$@" > "$WORK/$name.log" 2>&1
    log "end $name rc=$? $(tail -n 1 "$WORK/$name.log")" ) &
}

hnerv_row_fit() {  # GPU SEED SIDE: the HNeRV code's NeRV row at 1.5M (peer_nerv_fit.py --code
  # hnerv) for PEER_EPOCHS (default 300), one side (official or ours) from the seed's official
  # initial weights (--same-init), in the background
  local e=${PEER_EPOCHS:-300} name=peer_hnerv_${3}_1.5_s${2}_e${PEER_EPOCHS:-300}
  peer_nerv_fit "$1" "$name" 600 --code hnerv --size 1.5 --impl "$3" --epochs "$e" \
    --seed "$2" --same-init --work "$CHAIN/$name" --max-time-s "$(peer_left)"
}

nerv_s_tf32() {  # GPU SEED [compiled]: NeRV-S on 720x1280 with t = i / N, TF32 convolutions
  # (fit.tf32=None, as session 10's fp32 fits), eager or compiled with CUDA graphs, in the
  # background; compiled and eager differ in more than their seed, so their tags differ
  # (bunny.py seeds groups by tag)
  local g=$1 seed=$2 kind=tf32 how=()
  [ "${3:-}" = compiled ] && kind=cgtf32 how=("${COMPILED_CUDA_GRAPHS[@]}")
  anchors "$g" "nerv720_${kind}_s$seed" --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
    --tag "${kind}open$seed" --per-gpu 1 --cfg-options seed="$seed" fit.tf32=None "${how[@]}" &
}

nerv_fits() {  # GPU: NeRV-S fp32 on 720x1280 and the small NeRV seeds, at once on one GPU
  local g=$1 seed
  anchors "$g" nerv720_fp32 --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
    --tag fp32 --cfg-options fit.amp=None --per-gpu 1 &
  for seed in 0 1; do
    anchors "$g" seeds_s$seed --protocols hnerv --codecs nerv --parameters 0.35,0.75 \
      --tag s$seed --cfg-options seed=$seed --per-gpu 2 &
  done
  wait
}

ablation() {  # NAME SWITCH: the D-NeRV ablation on the built-in set, one variant
  compress 1 builtin dnerv M 520 codec.network.fc_dim=4 fit.max_epochs="$ABLATION_EPOCHS" \
    fit.max_time_s="$ABLATION_SECONDS" fit.batch_size=8 fit.num_workers=3 workers=3 \
    output=dnerv_M_$1 ${2:+codec.network.$2=False}
}

bisect() {  # GPU LIMIT TIME_LIMIT TAIL [ARGS...]: benchmarks/notes/ffnerv_compiled_learns.py,
  # its last TAIL lines into the timeline
  local g=$1 want=$2 time_limit=$3 tail_lines=$4; shift 4
  log "start ffnerv compile bisect"
  on_gpu "$g" timeout "$(limit "$want")" python3 benchmarks/notes/ffnerv_compiled_learns.py \
    --time-limit "$time_limit" $([ "$TINY" = 1 ] && echo --steps 6 --size 32x64) "$@" \
    --out "$OUT/ffnerv_compile_bisect.jsonl" > "$WORK/ffnerv_compile_bisect.log" 2>&1
  log "end ffnerv compile bisect rc=$?"
  tail -n "$tail_lines" "$WORK/ffnerv_compile_bisect.log" >> "$OUT/timeline.txt"
}

case $CALL in
  1)
    prepare_data ucf101_mini
    ( for seed in 0 1; do
        parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget --seed "$seed"
        parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 281 --seed "$seed"
      done ) &
    nerv_fits 1 &
    wait ;;
  2)
    prepare_data builtin
    ( log "start dnerv_scaling ($SCALING_FRAMES frames)"
      # shellcheck disable=SC2086  # the sizes and epochs are lists
      on_gpu 0 timeout "$(limit 530)" python3 benchmarks/dnerv_scaling.py $TINY_FLAG \
        --frames $SCALING_FRAMES --epochs $SCALING_EPOCHS --workers "${SCALING_WORKERS:-8}" \
        --prepare-workers 8 --work "$WORK/dnerv_scaling" --out "$OUT/dnerv_scaling.jsonl" \
        > "$WORK/dnerv_scaling.log" 2>&1
      log "end dnerv_scaling rc=$?"
      tail -n 8 "$WORK/dnerv_scaling.log" >> "$OUT/timeline.txt"
      rm -rf "$WORK/dnerv_scaling" ) &
    ( nerv_fits 1
      parity 1 builtin "$PARITY_EPOCHS_BUILTIN" 6 budget
      parity 1 builtin "$PARITY_EPOCHS_BUILTIN" 6 281 ) &
    wait ;;
  3)
    prepare_data builtin
    ( log "start dnerv_speed"
      for sizes in SPEED_M SPEED_SL; do
        declare -n settings=$sizes
        on_gpu 0 timeout "$(limit 540)" python3 benchmarks/peer_dnerv.py speed $TINY_FLAG \
          --official "$PEERS/D-NeRV" "${settings[@]}" --out "$OUT/dnerv_speed_vs_official.jsonl" \
          >> "$WORK/dnerv_speed.log" 2>&1
        log "end dnerv_speed $sizes rc=$?"
      done ) &
    ( ablation full & ablation no_saf use_saf & ablation no_gtmlp use_gtmlp &
      ablation no_flow use_flow & wait; log "end dnerv_ablation" ) &
    # beside the ablation (its times are then not speeds): call 2 ran out before these
    ( parity 1 builtin "$PARITY_EPOCHS_BUILTIN" 6 budget
      parity 1 builtin "$PARITY_EPOCHS_BUILTIN" 6 281 ) &
    wait ;;
  4|5)  # for the next session: what calls 1-3 left, two chained calls (CALL=4, then CALL=5)
    prepare_data ucf101_mini builtin
    if [ "$CALL" = 4 ]; then
      # more seeds from each side's own weights at fc_dim 4 (two seeds left -0.44 / -0.53 dB:
      # a cause or the draw?), then the built-in set alone on its GPU
      ( for seed in 2 3 4; do parity 0 ucf101_mini "$PARITY_EPOCHS_UCF" 0 budget --seed "$seed"; done
        parity 0 builtin "$PARITY_EPOCHS_BUILTIN" 6 budget ) &
    else
      ( parity 0 builtin "$PARITY_EPOCHS_BUILTIN" 6 281
        log "start dnerv_speed S L"
        on_gpu 0 timeout "$(limit 400)" python3 benchmarks/peer_dnerv.py speed $TINY_FLAG \
          --official "$PEERS/D-NeRV" "${SPEED_SL[@]}" --out "$OUT/dnerv_speed_vs_official.jsonl" \
          >> "$WORK/dnerv_speed.log" 2>&1
        log "end dnerv_speed S L rc=$?" ) &
    fi
    # NeRV-S at the paper's width (fc_dim 26 since a764a6f) in fp32, continued by CALL=5; and
    # NeRV 1.5M with HNeRV's float64 positional code (tag f64), seeds 0 and 1, against the
    # seeds in data/anchors_bunny_seeds.jsonl
    anchors 1 nerv720_fp32_w26 --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
      --tag fp32 --cfg-options fit.amp=None --per-gpu 1 &
    for seed in 0 1; do
      anchors 1 f64_s$seed --protocols hnerv --codecs nerv --parameters 1.5 --tag f64s$seed \
        --cfg-options seed=$seed codec.network.pe_rounding=float64 --per-gpu 1 &
    done
    if [ "$NGPU" -ge 4 ] || [ "$TINY" = 1 ]; then
      # FFNeRV for 300 epochs (150 lost to NeRV at 0.35M and 0.75M; eager, 300 epochs take
      # ~3 calls): GPU 2 with its training loss compiled under CUDA graphs (its step is bound
      # by kernel launches), GPU 3 the same fits eager. Call 5 adds 1.5M and 3M compiled.
      ffnerv_compiled=(fit.compile.enabled=True fit.compile.mode=reduce-overhead)
      [ "$TINY" = 1 ] && ffnerv_compiled=(fit.compile.enabled=True fit.compile.backend=eager)
      budgets=$([ "$CALL" = 4 ] && echo 0.35,0.75 || echo 0.35,0.75,1.5,3)
      anchors 2 ffnerv_c300 --protocols hnerv --codecs ffnerv --parameters "$budgets" --tag c300 \
        --per-gpu 4 --cfg-options "${ffnerv_compiled[@]}" &
      anchors 3 ffnerv_e300 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75 --tag e300 \
        --per-gpu 2 &
    else  # 2 GPUs: the compiled pair only, beside the parity runs (call 4), then beside the NeRV
      # fits (call 5: GPU 0 times S and L alone)
      anchors "$([ "$CALL" = 4 ] && echo 0 || echo 1)" ffnerv_c300 --protocols hnerv --codecs ffnerv \
        --parameters 0.35,0.75 --tag c300 --per-gpu 2 \
        --cfg-options fit.compile.enabled=True fit.compile.mode=reduce-overhead &
    fi
    wait ;;
  6|7)  # for session 9, two chained calls: where the compiled FFNeRV step goes wrong on CUDA,
    # FFNeRV for 300 epochs eager in fp32 (its official precision; at batch 1 its step is bound
    # by kernel launches, and bf16 autocast adds casts: the fp32 port beat the official time on
    # an H200, bf16 was 1.5x slower on an H100), all four budgets at once on GPU 0, continued
    # over the calls; NeRV with the official codes' frame times on GPU 1, beside the bisect
    anchors 0 ffnerv_e300 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75,1.5,3 \
      --tag e300fp32 --per-gpu 4 --cfg-options fit.amp=None &
    if [ "$CALL" = 6 ]; then
      bisect 1 240 200 40 &
    fi
    # t = i / N as the official NeRV code (NeRV-S, fp32, its float32 rounding) and, with the
    # float64 encoding, as the HNeRV code (1.5M, seeds 0 and 1: against f64s0 / f64s1)
    anchors 1 nerv720_open --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
      --tag open --cfg-options fit.amp=None codec.network.frame_times=open --per-gpu 1 &
    for seed in 0 1; do
      anchors 1 f64open_s$seed --protocols hnerv --codecs nerv --parameters 1.5 --tag f64open$seed \
        --cfg-options seed=$seed codec.network.pe_rounding=float64 codec.network.frame_times=open \
        --per-gpu 1 &
    done
    wait ;;
  8|9|10)  # session 9, on the one H200 lent (no 2-GPU machine), three chained calls: all of
    # calls 6-7 on one GPU (the NeRV fits at 640x1280 are bound by the host, not the GPU, and
    # FFNeRV by kernel launches), and the NeRV rows of the crop at every size with both
    # official input codes (float64 encoding, t = i / N: the HNeRV code's), seed 0, plus seed 1
    # at 1.5M; continued by CALL=9 and 10 (--resume)
    anchors 0 ffnerv_e300 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75,1.5,3 \
      --tag e300fp32 --per-gpu 4 --cfg-options fit.amp=None &
    if [ "$CALL" = 8 ]; then
      bisect 0 470 380 40 \
        --only step,step-aot_eager,independent,aggregate,loss,step-noqat,step-fp32,step-nocheck,step-cudagraphs-aot &
    fi
    anchors 0 nerv720_open --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
      --tag open --cfg-options fit.amp=None codec.network.frame_times=open --per-gpu 1 &
    anchors 0 f64open_s0 --protocols hnerv --codecs nerv --parameters 0.35,0.75,1.5,3 --tag f64open0 \
      --cfg-options seed=0 codec.network.pe_rounding=float64 codec.network.frame_times=open \
      --per-gpu 4 &
    anchors 0 f64open_s1 --protocols hnerv --codecs nerv --parameters 1.5 --tag f64open1 \
      --cfg-options seed=1 codec.network.pe_rounding=float64 codec.network.frame_times=open \
      --per-gpu 1 &
    wait ;;
  11|12|13)  # session 10, three chained calls; 2 GPUs lent (on one GPU everything shares it):
    # GPU 0: does the compiled FFNeRV step learn now that fake_quantize has no custom
    # autograd.Function? The bisect's whole-step variants (call 11) beside FFNeRV for 300 epochs
    # compiled with CUDA graphs at the four budgets, in fp32 as the eager e300fp32 fits of calls
    # 8-10 (each fit stops at its first batch if its gradients disagree with eager's; if all four
    # do, eager fp32 instead, marked in $CHAIN for the later calls).
    # GPU 1: NeRV-S with t = i / N (the official NeRV code's frame times) in fp32, seeds 0 and 1
    # (seed 1 only with a second GPU), and the crop's NeRV at 1.5M, seeds 2 and 3
    ffnerv_compiled=("${FFNERV_FP32_COMPILED[@]}")
    [ -n "${FFNERV_COMPILED:-}" ] && read -r -a ffnerv_compiled <<< "$FFNERV_COMPILED"  # dry runs
    if [ "$CALL" = 11 ]; then
      bisect 0 300 200 12 --only step,step-cudagraphs,step-fp32 &
    fi
    ffnerv_300() {
      if [ ! -e "$CHAIN/ffnerv_eager" ]; then
        anchors 0 ffnerv_c300fp32 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75,1.5,3 \
          --tag c300fp32 --per-gpu 4 --cfg-options "${ffnerv_compiled[@]}"
        # eager only when all four fits failed and died of compiling (the gradient check's
        # error starts "fit.compile: "; dynamo/inductor errors name their modules), not of a
        # deadline or memory (a fit's log always holds its command, fit.compile.enabled=True)
        [ "$(grep -c '] FAILED hnerv ffnerv' "$WORK/ffnerv_c300fp32.log")" = 4 ] || return
        [ "$(grep -l -E 'fit\.compile: |_dynamo|_inductor' "$OUT"/anchors/ffnerv_c300fp32/logs/*.log \
          2>/dev/null | wc -l)" = 4 ] || return
        log "every compiled FFNeRV fit failed to compile or its check: eager fp32 from here on"
        touch "$CHAIN/ffnerv_eager"
      fi
      anchors 0 ffnerv_e300fp32 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75,1.5,3 \
        --tag e300fp32 --per-gpu 4 --cfg-options fit.amp=None
    }
    ffnerv_300 &
    for seed in 0 1; do
      [ "$seed" = 1 ] && [ "$NGPU" -lt 2 ] && [ "$TINY" != 1 ] && continue
      anchors 1 nerv720_open_s$seed --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
        --tag open$seed --cfg-options seed=$seed fit.amp=None codec.network.frame_times=open \
        --per-gpu 1 &
    done
    # the crop's NeRV at 1.5M, where the anchor config's two seeds are 0.32 / 0.02 dB below the
    # published row: more seeds say where its mean lies (call 11 ran seeds 2 and 3, call 12
    # added 4 and 5, and call 13 6 and 7, which were lost with that call; see anchors.md)
    for seed in 2 3 4 5; do
      anchors 1 nerv1500_s$seed --protocols hnerv --codecs nerv --parameters 1.5 \
        --tag f64open$seed --cfg-options seed=$seed --per-gpu 1 &
    done
    wait ;;
  14|15|16)  # session 11, three chained calls (2 GPUs; on one, the seed-1 NeRV-S and the
    # 1.5M seeds 2 and 3 are left out). Does IEEE float32 (the papers' RTX 2080 Ti had no TF32;
    # the anchor NeRV configs set fit.tf32=False since f37b4ba) close what is left?
    # GPU 0: FFNeRV for 300 epochs compiled (calls 11-12 got to 270-274 before call 13 was
    #        lost), NeRV-S in IEEE float32 with t = i / N (now the config's), seed 0
    # GPU 1: the crop's NeRV at 1.5M in IEEE float32, seeds 0 and 1 (paired with the TF32
    #        seeds f64open0, 1), NeRV-S in IEEE float32 with t = i / N, seed 1.
    # IEEE float32 convolutions run on the CUDA cores, not the tensor cores: NeRV-S may need
    # 2-3x its TF32 time (an estimate). Read the epochs each fit reached after call 14 before
    # chaining more (the timeline's "end" lines).
    # The last call's DEADLINE must fit the lease: `status` budget_left_s minus about 45 s.
    two=$([ "$NGPU" -ge 2 ] || [ "$TINY" = 1 ] && echo 1)
    anchors 0 ffnerv_c300 --protocols hnerv --codecs ffnerv --parameters 0.35,0.75,1.5,3 \
      --tag c300 --per-gpu 4 --cfg-options "${FFNERV_FP32_COMPILED[@]}" &
    for seed in 0 1; do
      [ "$seed" = 1 ] && [ -z "$two" ] && continue
      anchors "$seed" nerv720_ieee_s$seed --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
        --tag ieee_open$seed --cfg-options seed=$seed codec.network.frame_times=open --per-gpu 1 &
    done
    for seed in 0 1; do
      [ "$seed" = 1 ] && [ -z "$two" ] && continue
      anchors 1 nerv1500_ieee_s$seed --protocols hnerv --codecs nerv --parameters 1.5 \
        --tag ieee$seed --cfg-options seed=$seed --per-gpu 1 &
    done
    wait ;;
  17)  # a fresh machine with one call's time: more seeds of the crop's NeRV at 1.5M (the anchor
    # config, IEEE float32 since f37b4ba), three fits per GPU
    for seed in 6 7 8 9 10 11; do
      anchors $(( seed % 2 )) nerv1500_ieee_s$seed --protocols hnerv --codecs nerv --parameters 1.5 \
        --tag ieee$seed --cfg-options seed=$seed --per-gpu 3 &
    done
    wait ;;
  18|19|20)  # next session: each call complete in itself, one fit per GPU, so that a machine
    # released between calls (session 11 lost its chained 300-epoch fits at 240 to 247 epochs
    # that way) loses nothing. Estimates from session 11: alone on its GPU, a compiled FFNeRV
    # fit needs at most about 7 ms a step (four fits on one GPU ran 141 epochs, 132 steps each,
    # in one call), so 300 epochs in about 300 s; NeRV-S eager in TF32 took 630-780 s for 300
    # epochs on a shared H200 (sessions 7, 8), so it may need a second call. A call that runs
    # out of time leaves a checkpoint; the same CALL again on the still-warm machine
    # continues it. Two GPUs: on one, the two fits of a call would share it.
    # 18: FFNeRV at 0.35M (GPU 0) and 0.75M (GPU 1); 19: at 1.5M and 3M; each at the
    # parameter count of the NeRV row it is compared with (--sized-as: 0.382M for 0.35M, where
    # FFNeRV at the nominal budget landed at 8 % fewer bits than NeRV);
    # 20: NeRV-S with t = i / N, TF32 convolutions (fit.tf32=None, as session 10's fp32 fits),
    # seeds 0 and 1. Order next session: 20 first (again at once if a fit stopped at its time
    # limit), then 18, then 19.
    need_gpus 2 "one fit each"
    case $CALL in
      18) budgets=(0.35 0.75) ;;
      19) budgets=(1.5 3) ;;
      20) budgets=() ;;
    esac
    ffnerv_as_nerv ffnerv_solo c300solo "${budgets[@]}"
    if [ "$CALL" = 20 ]; then
      # seed 0 compiled with CUDA graphs (never run on a GPU for NeRV: its first batch is
      # checked against eager; if it gets through 300 epochs in one call, the faster way for
      # the other NeRV sizes), seed 1 eager
      nerv_s_tf32 0 0 compiled
      nerv_s_tf32 1 1
    fi
    wait ;;
  21)  # 4 GPUs: calls 18-20 at once, and D-NeRV to 300 epochs. Chained: the same CALL again on
    # the still-warm machine continues every fit stopped at its time limit (--resume) and
    # keeps the finished ones; the records of each call are that call's fits as they ended
    need_gpus 4
    ffnerv_as_nerv ffnerv_solo c300solo 0.35 0.75 1.5 3
    nerv_s_tf32 0 0 compiled
    nerv_s_tf32 1 1
    for i in 0 1; do
      budget=$([ "$i" = 0 ] && echo 1.5 || echo 3)
      # the keyframes are coded before the first call's fit (cached in the work dir after)
      prefit=$(find "$CHAIN/dnerv_e300_$budget" -name keyframes.bits 2>/dev/null | grep -q . && echo 0 || echo 150)
      anchors $(( i + 2 )) "dnerv_e300_$budget" --protocols hnerv --codecs dnerv --parameters "$budget" \
        --tag e300 --per-gpu 1 --prefit-s "dnerv=$prefit" &
    done
    wait ;;
  22)  # 4 GPUs, after call 21: NeRV-S with t = i / N, TF32, compiled with CUDA graphs, seeds 2-4
    # (GPUs 0-2; is the paper's 32.21 within our seed spread?) and FFNeRV at 0.35M seed 1
    # (GPU 3); chained as call 21
    need_gpus 4
    for seed in 2 3 4; do
      nerv_s_tf32 $(( seed - 2 )) "$seed" compiled
    done
    anchors 3 ffnerv_solo_0.35_s1 --protocols hnerv --codecs ffnerv --parameters 0.35 \
      --sized-as ffnerv=nerv --tag c300solo1 --per-gpu 1 \
      --cfg-options seed=1 "${FFNERV_FP32_COMPILED[@]}" &
    wait ;;
  23)  # NeRV-S by the NeRV paper's own training code (benchmarks/peer_nerv_fit.py, the official
    # loop mirrored) beside ours on the same frames: does the official code reach the paper's
    # 32.21 dB on this GPU? PEER_EPOCHS (default 300), PEER_SEEDS (default "1": its
    # --manualSeed), PEER_SAME_INIT=1: ours from the official initial weights, same frame order.
    # Each seed: official on one GPU, ours on the next. Chained like call 21 (--work in $CHAIN)
    seeds=(${PEER_SEEDS:-1})
    need_gpus $(( 2 * ${#seeds[@]} )) "2 a seed"
    for i in "${!seeds[@]}"; do
      for impl in official ours; do
        g=$(( 2 * i + $([ "$impl" = ours ] && echo 1 || echo 0) ))
        name=peer_nerv_${impl}_s${seeds[$i]}_e${PEER_EPOCHS:-300}$([ "${PEER_SAME_INIT:-0}" = 1 ] && echo _same)
        peer_nerv_fit "$g" "$name" 600 --impl "$impl" --epochs "${PEER_EPOCHS:-300}" \
          --seed "${seeds[$i]}" $([ "${PEER_SAME_INIT:-0}" = 1 ] && echo --same-init) \
          --work "$CHAIN/$name" --max-time-s "$(peer_left)"
      done
    done
    wait ;;
  24)  # 4 GPUs: FFNeRV sized as NeRV to 300 epochs again, one budget per GPU, after the fix
    # that fills its neighbour buffer before the first step (session 12's fits read zeros in
    # their first epoch and again after their resume); beside them, at 0.35M (where FFNeRV
    # stayed 0.32 dB below NeRV), three other splits of the same budget between grids and
    # decoder (the solver's: grid channels 10, first width 64, grids 132 + 132 slots, 45 % of
    # the parameters in the grids), and more seeds of the crop's NeRV at 0.35M and 0.75M (one
    # seed each so far). Alone on its GPU one FFNeRV fit took 348 s (0.35M, call 22), at 1.5M
    # and 3M beside another fit 620-660 s; with two or three fits a GPU the same CALL again,
    # chained, continues them (--resume)
    need_gpus 4
    ffnerv_as_nerv ffnerv_filled c300filled 0.35 0.75 1.5 3
    # name, grid channels, first width, grid lengths (each within NeRV's 0.382M; grids 27 /
    # 13 / 17 % of the parameters)
    for shape in "c8w96:8:96:[66,132]:0" "c6w128:6:128:[44,88]:1" "c10w96:10:96:[33,66]:0"; do
      IFS=: read -r tag channels width lengths g <<< "$shape"
      ffnerv_shape "$g" "ffnerv_shape_$tag" "$tag" "$channels" "$width" "$lengths"
    done
    for seed in 1 2; do
      for g in 2 3; do  # beside the two larger FFNeRV budgets (0 and 1 hold the splits)
        size=$([ "$g" = 2 ] && echo 0.35 || echo 0.75)
        anchors "$g" "nerv_small_${size}_s$seed" --protocols hnerv --codecs nerv --parameters "$size" \
          --tag "ieee$seed" --per-gpu 1 --cfg-options seed=$seed &
      done
    done
    wait ;;
  25)  # 4 GPUs, one call, one fit per GPU (alone on its GPU a 0.35M FFNeRV fit ran 300 epochs
    # in 348 s, session 12): FFNeRV at NeRV's 0.35M count, 300 epochs, with the neighbour buffer
    # filled. GPUs 0, 1: the solver's network since it caps the grids at a third of the
    # parameters (grid channels 10, first width 96, grids 37 + 66: 17 %), seeds 0 and 1;
    # GPUs 2, 3: call 24's other splits (27 % and 13 % in grids). Against NeRV's 27.00 dB (the
    # mean of three seeds at 0.0283 bpp) and the old split's 26.70 (session 12)
    need_gpus 4
    for seed in 0 1; do
      anchors "$seed" "ffnerv_cap_s$seed" --protocols hnerv --codecs ffnerv --parameters 0.35 \
        --sized-as ffnerv=nerv --tag "cap$seed" --per-gpu 1 \
        --cfg-options seed=$seed "${FFNERV_FP32_COMPILED[@]}" &
    done
    ffnerv_shape 2 ffnerv_shape_c8w96_e300 c8w96e300 8 96 "[66,132]"
    ffnerv_shape 3 ffnerv_shape_c6w128_e300 c6w128e300 6 128 "[44,88]"
    wait ;;
  26)  # 4 GPUs, one call, one run per GPU: where an anchors fit's time goes. NeRV-S took 300
    # epochs in 326 s in peer_nerv_fit's plain loop (frames on the GPU, session 13) and 470 s
    # compiled with CUDA graphs through tools/compress_dataset.py (session 12), each alone on
    # its GPU. Here OVERHEAD_EPOCHS (default 60; a schedule of that many epochs: a timing, not a
    # quality run) four ways: the plain loop (GPU 0), the anchors fit eager (GPU 1), compiled
    # with CUDA graphs (GPU 2), and eager with fit.sync_each_step=True (GPU 3: each step's loss
    # read back and its batch copied from pageable memory, as before 6e6ece4). The
    # fits' seconds (the records' fit_time_s) over their steps give what a step costs each way
    need_gpus 4
    e=${OVERHEAD_EPOCHS:-60}
    peer_nerv_fit 0 overhead_plain 400 --impl ours --epochs "$e" --seed 0
    for variant in "eager:1:" "compiled:2:${COMPILED_CUDA_GRAPHS[*]}" "synced:3:fit.sync_each_step=True"; do
      IFS=: read -r tag g options <<< "$variant"
      # shellcheck disable=SC2086  # the options are a list
      anchors "$g" "overhead_$tag" --protocols nerv --codecs nerv --parameters-of 'nerv:nerv=3.2' \
        --epochs "$e" --tag "overhead${tag}e$e" --per-gpu 1 --cfg-options fit.tf32=None $options &
    done
    wait ;;
  27)  # 4 GPUs, one call, one fit per GPU: call 25's 0.35M comparison with two more seeds a
    # side (FFNeRV, the capped solver's network, seeds 0 and 1 gave 27.57 / 27.33 dB; NeRV
    # seeds 0-2 27.00 on average): FFNeRV seeds 2, 3 (GPUs 0, 1), NeRV seeds 3, 4 in IEEE
    # float32 as call 24's (GPUs 2, 3)
    need_gpus 4
    for seed in 2 3; do
      anchors $(( seed - 2 )) "ffnerv_cap_s$seed" --protocols hnerv --codecs ffnerv --parameters 0.35 \
        --sized-as ffnerv=nerv --tag "cap$seed" --per-gpu 1 \
        --cfg-options seed=$seed "${FFNERV_FP32_COMPILED[@]}" &
    done
    for seed in 3 4; do
      anchors $(( seed - 1 )) "nerv_small_0.35_s$seed" --protocols hnerv --codecs nerv --parameters 0.35 \
        --tag "ieee$seed" --per-gpu 1 --cfg-options seed=$seed &
    done
    wait ;;
  28)  # one call: the HNeRV paper's NeRV row at 1.5M by the HNeRV code itself
    # (haochen-rye/HNeRV's train_nerv_all.py loop mirrored in benchmarks/peer_nerv_fit.py
    # --code hnerv, its network, loss and lr imported) beside ours from the same initial
    # weights: does the code that published 30.87 dB reach it on this GPU? (Our anchor config:
    # twelve seeds, mean 30.78, three of twelve at or above it.) PEER_SEEDS (default 1-4, its
    # --manualSeed), the k-th on GPU k (modulo the GPUs there are); PEER_IMPLS (default
    # "official ours") the sides, each seed's at once on its GPU. Session 14 ran it on 4 GPUs
    # with DEADLINE=165; session 15 on the one H200 lent, four fits at once on it: PEER_IMPLS=official
    # for seeds 1-4 and 5-8, then PEER_IMPLS=ours for 1-4 and 5-8. With --work and a time
    # limit a fit cut off still records its epochs and PSNR. --same-init for both (the official
    # side's weights are its seed's either way)
    k=0
    for seed in ${PEER_SEEDS:-1 2 3 4}; do
      for impl in ${PEER_IMPLS:-official ours}; do
        hnerv_row_fit "$k" "$seed" "$impl"
      done
      k=$(( k + 1 ))
    done
    # one sample of the GPU's utilisation (the fits print their seconds an epoch every 10 epochs)
    [ "$TINY" = 1 ] || ( sleep 60; log "gpu busy, memory: $(nvidia-smi --query-gpu=utilization.gpu,memory.used \
        --format=csv,noheader 2>/dev/null | tr '\n' ' ')" ) &
    wait ;;
  29)  # 4 GPUs, one call: FFNeRV at NeRV's 0.75M / 1.5M / 3M counts to 300 epochs with the
    # neighbour buffer filled (session 12's 300-epoch rows ran before that fix; session 13's
    # refits were cut at 221-261 epochs, 2-3 fits a GPU), one fit per GPU (GPUs 0-2). Alone on
    # its GPU a 0.35M fit took 255 s in session 14 (348 s in session 12, before fits stopped
    # waiting for the GPU each step); the larger ones took 620-660 s beside another fit in
    # session 12, so MAX_FIT_S=540 may still cut the 3M fit. GPU 3: the HNeRV code's NeRV row at
    # 1.5M, official side only, seeds 5 and 6 (call 28 runs 1-4). FFNERV_BUDGETS and
    # PEER_SEEDS pick a part; here (not in call 28) either may be empty, for none: session 15,
    # on the one H200 lent, ran FFNERV_BUDGETS=0.75 PEER_SEEDS= (its call 28 had run the
    # official seeds 5-8). --same-init as in call 28 (the official weights are the seed's
    # either way), so that the two calls' work dirs of a seed are the same run's
    ffnerv_as_nerv ffnerv_e300filled e300filled ${FFNERV_BUDGETS-0.75 1.5 3}
    for seed in ${PEER_SEEDS-5 6}; do
      hnerv_row_fit 3 "$seed" official
    done
    wait ;;
esac
log "end call $CALL"

mkdir -p "$OUT/logs"
cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null
[ -d "$WORK/builtin" ] && cp "$WORK"/builtin/*.log "$OUT/logs/" 2>/dev/null
for d in "$OUT"/anchors/*/logs; do  # the fits' logs, into the archive
  [ -d "$d" ] || continue
  name=${d%/logs}; name=${name##*/}
  mkdir -p "$OUT/logs/$name" && mv "$d"/*.log "$OUT/logs/$name/" 2>/dev/null && rmdir "$d"
done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
