#!/usr/bin/env bash
# Trains the runs listed in checkpoints/shipped.json with the project's own CLI, each with its
# recorded command, then computes the t-SNE, UMAP and PCA maps of the DANN runs. A run that is
# already stored is found, not retrained, and cached maps are reused, so re-running is cheap.
# The DANN runs take minutes each on 2 CPU cores, the lifelong runs one to six; the few-shot (MAML)
# runs want a GPU (about 10 minutes each there, many hours on 2 CPU cores).
# Usage: checkpoints/train_shipped.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export EXPLORER_CHECKPOINTS_DIR="${EXPLORER_CHECKPOINTS_DIR:-$PWD/checkpoints}"

field() {  # every run's value of one field of shipped.json, one per line
  python -c 'import json, sys; [print(r[sys.argv[1]]) for r in json.load(open("checkpoints/shipped.json"))["runs"]]' "$1"
}

while read -r command; do
  echo "== $command"
  # shellcheck disable=SC2086
  $command --no-download --json
done < <(field command)

while read -r run_id; do
  [[ $run_id == dann-* ]] || continue  # feature maps are for DANN runs
  for method in tsne umap pca; do
    python -m core maps "$run_id" --method "$method" --json
  done
done < <(field run_id)
