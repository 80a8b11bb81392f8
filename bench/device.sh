#!/usr/bin/env bash
# The GPU figures of the book in one prepared run, quick benches first, on a lent GPU machine
# packed the way ../shared/device/README.md describes (`pack minilm`):
#
#   source .carry/on-device.sh && bash bench/device.sh "$OUT"
#
# Each step runs under its own time limit and writes OUT/<step>.log; OUT/summary.jsonl gets one
# JSON line per step (exit status, seconds, the step's last line: each bench ends with its JSON).
# PEAK_TFLOPS: the card's dense bf16 peak for MFU (default 989: H100 and H200 SXM). STEPS: the
# steps to run (default all, in this order). DEVICE=cpu SMALL=1 is a dry run of the script here.
set -u
out=${1:?usage: bench/device.sh OUT_DIR}
mkdir -p "$out"
device=${DEVICE:-cuda}
peak=${PEAK_TFLOPS:-989}
steps=${STEPS:-"finetune32 finetune128 extract plan packing"}
py=${PYTHON:-python3}
if [ -n "${SMALL:-}" ]; then  # the dry run: a few batches, the small shape
  shape=minilm; n32=320; n128=1280; sentences=64; variants="--variants plain,ours,packed,trainer"
else
  shape=bert-base; n32=3200; n128=6400; sentences=1000; variants=""
fi

step() {  # step NAME LIMIT_S COMMAND...
  local name=$1 limit=$2 start rc last
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  last=$(tail -n 1 "$out/$name.log")
  case $last in "{"*) ;; *) last=null ;; esac
  printf '{"step": "%s", "rc": %d, "seconds": %d, "result": %s}\n' "$name" "$rc" $(( $(date +%s) - start )) \
    "$last" | tee -a "$out/summary.jsonl"
}

for name in $steps; do
  case $name in
    finetune32) step finetune32 240 "$py" bench/finetune.py --device "$device" --shape "$shape" --examples "$n32" \
                  --batch-size 32 --peak-tflops "$peak" --trace "$out/trace32" $variants ;;
    finetune128) step finetune128 240 "$py" bench/finetune.py --device "$device" --shape "$shape" --examples "$n128" \
                   --batch-size 128 --peak-tflops "$peak" --trace "$out/trace128" $variants ;;
    extract) step extract 120 "$py" bench/extract.py --device "$device" --shape "$shape" --sentences "$sentences" ;;
    plan) step plan 180 "$py" -m lib plan --profile paper --device "$device" ;;
    packing) step packing 300 "$py" bench/packing.py --device "$device" --tasks nli ;;
    gpu_book) step gpu_book 590 "$py" .carry/run_chapters.py . gpu ;;
    *) echo "unknown step $name; steps: finetune32 finetune128 extract plan packing gpu_book" >&2; exit 2 ;;
  esac
done
