#!/usr/bin/env bash
# GPU check, run on a lent GPU machine through the device tool (not part of CI):
#   carry .gpu (wheels the image lacks + a copy of UD EWT and CoNLL-2003), then
#   bash benchmarks/gpu_check.sh
# Checks that the multi-GPU override (gpu, ddp, bf16-mixed) trains the demo, POS and NER models
# on one GPU, and that the fast test subset passes there.
set -uo pipefail
export HF_HUB_OFFLINE=1 NLPTAG_DATA_DIR="$PWD/.gpu/data" NLPTAG_CACHE_DIR=/tmp/nlptag-cache
export PYTHONPATH="$PWD" OUT="${OUT:-/tmp/out}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -m pip install -q --no-index --no-deps .gpu/wheels/*.whl 2>&1 | tail -2
python3 -c "import torch, pytorch_lightning as pl, datasets, jsonargparse; print('torch', torch.__version__, 'pl', pl.__version__, 'datasets', datasets.__version__, 'cuda', torch.cuda.is_available())"
GPU="--config configs/overrides/multi_gpu.yaml --trainer.devices 1 --trainer.enable_progress_bar false"
run() { local name=$1; shift; local start=$SECONDS
  python3 -m nlptag.cli fit "$@" $GPU --trainer.default_root_dir "$OUT/$name" > "$OUT/$name.log" 2>&1
  local rc=$?; echo "$name rc=$rc seconds=$((SECONDS - start))"
  tail -n 3 "$OUT/$name/metrics.csv" 2>/dev/null; [ $rc -eq 0 ] || tail -n 20 "$OUT/$name.log"; }
mkdir -p "$OUT"
run demo --config configs/base/trainer.yaml --config configs/demo.yaml
run pos --config configs/base/trainer.yaml --config configs/pos/ud_ewt.yaml --trainer.max_epochs 1
run ner --config configs/base/trainer.yaml --config configs/ner/conll2003.yaml --trainer.max_epochs 1
python3 -m pytest -q -p no:cacheprovider tests/models tests/tasks/test_tagging.py 2>&1 | tail -3
