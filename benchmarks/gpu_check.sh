#!/usr/bin/env bash
# The GPU checks of issue 21 as one script (under 5 minutes on an H100/H200): the CUDA-vs-CPU
# parity tests for every op and target, nvJPEG decode, then the GPU benchmark.
#   bash benchmarks/gpu_check.sh            (from the repository root, project installed)
# Needs torch with CUDA and, for nvJPEG decode/encode, the torchvision built for that torch.
set -u
PY=${PYTHON:-python}
export NO_ALBUMENTATIONS_UPDATE=1 PYTHONPATH=${PYTHONPATH:-$PWD}
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/gpu; rc=$?
timeout 150 "$PY" benchmarks/bench_image_gpu.py --batch 256 --batches 8 --sizes 224 512 || rc=1
exit $rc
