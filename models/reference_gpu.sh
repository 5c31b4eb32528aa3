#!/usr/bin/env bash
# Reference-size training on a lent GPU machine (models/README.md, "Reference-size training").
#
#   here, once (needs the pip registry):  bash models/reference_gpu.sh wheels
#   on the GPU machine (device tool):      run(command="bash models/reference_gpu.sh train",
#                                              carry=[".whl"], timeout_s=600)
#
# The GPU machine has no registry and no .venv: its own python3 holds torch (CUDA), numpy, scipy,
# scikit-image, onnx and onnxruntime; what airmap needs beyond that (rasterio, affine) travels
# as wheels in .whl/ and is installed into /tmp only. Files land in $OUT (the device tool's
# folder that comes back) or ./reference_out; extra arguments go to the command (--only, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(rasterio==1.4.3 affine==2.4.0 cligj==0.7.2 click-plugins==1.1.1.2)

case "${1:-train}" in
wheels)
    # x86-64 CPython 3.12 wheels (the GPU machine's python3), downloaded here
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    ls -l .whl
    ;;
train)
    shift || true
    PY=python3
    if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
        PY=.venv/bin/python
    fi
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/airmap_site .whl/*.whl
        export PYTHONPATH=/tmp/airmap_site
    fi
    mkdir -p .pkg && ln -sfn "$PWD" .pkg/airmap
    export PYTHONPATH="$PWD/.pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    "$PY" - <<'EOF'
import importlib, sys
missing = [m for m in ("torch", "numpy", "scipy", "skimage", "onnx", "onnxruntime", "rasterio", "affine")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {', '.join(missing)} (run 'bash models/reference_gpu.sh wheels' here "
             "and carry .whl)")
import torch
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no GPU")
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
EOF
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null || true
    exec "$PY" -m airmap.models.reference --device cuda --out "${OUT:-$PWD/reference_out}" "$@"
    ;;
*)
    echo "usage: bash models/reference_gpu.sh [wheels|train [--only NAME ...]]" >&2
    exit 2
    ;;
esac
