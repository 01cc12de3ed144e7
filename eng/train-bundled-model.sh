#!/usr/bin/env bash
# Re-trains the bundled all-in-one model (DaRcot.Rec.Models.BundledModel) with the OT trainer, refits its degradation
# identifier, and remakes the demo picture and measurements:
#   darcot train samples/models/train-all-in-one.json   (on the 7 sample photos other than the held-out chelsea.png)
#   darcot identify --fit ... -o samples/models/bundled-identifier.json
#   darcot demo -o samples/images/demo.png
# Writes samples/models/{bundled-nafnet-rec.safetensors, bundled-identifier.json, training_log.csv, loss_history.png,
# training_output.txt, eval.txt} and samples/images/demo.png. One libtorch thread: the run is seeded (network, critic,
# data, gradient-penalty draws), so the same config and thread count give the same weights.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
images="${DARCOT_FIXTURES:-$root/../shared}/images"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/clean"
for f in "$images"/*.png; do
  [ "$(basename "$f")" = chelsea.png ] || ln -s "$f" "$work/clean/"
done
sed -e "s|@CLEAN@|$work/clean|" -e "s|@OUTPUT@|$work/run|" samples/models/train-all-in-one.json > "$work/run.json"

start=$(date +%s)
bash eng/darcot.sh train "$work/run.json" --threads 1 2>&1 | tee samples/models/training_output.txt
echo "training took $(( $(date +%s) - start )) s" | tee -a samples/models/training_output.txt
cp "$work/run/transport.safetensors" samples/models/bundled-nafnet-rec.safetensors
cp "$work/run/loss_history.csv" samples/models/training_log.csv
cp "$work/run/loss_history.png" samples/models/loss_history.png

# darcot.sh rebuilds the tool (the library embeds the new weights) because the weights are newer than it.
bash eng/darcot.sh identify --fit "$images" --holdout chelsea.png --crops 12 --crop 128 --threads 1 \
  -o samples/models/bundled-identifier.json | tee samples/models/eval.txt
bash eng/darcot.sh demo -o samples/images/demo.png --threads 1 | tee -a samples/models/eval.txt
