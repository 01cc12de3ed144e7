#!/usr/bin/env bash
# Re-trains the bundled denoiser (DaRcot.Rec.Models.BundledModel), measures it on the held-out photo and remakes the
# README pictures. Writes samples/models/{bundled-denoise-nafnet-rec.safetensors, config.json, training_log.csv,
# eval.txt, training_output.txt} and samples/images/chelsea_{clean,noisy25,restored,noisy_restored_clean}.png.
#   eng/train-bundled-model.sh [trainer options, e.g. --steps 200 --minutes 5]
# One OpenMP thread by default: on a shared 2-core machine one thread ran ~10x faster per step than two. Without
# --minutes (the default) a run is reproducible for a given seed and thread count; with --minutes M the cosine
# schedule also ends when the time is up, so the step count depends on the machine's speed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -x eng/ensure-native.sh ]; then eng/ensure-native.sh; fi
images="${DARCOT_FIXTURES:-$root/../shared}/images"
artifacts="${DARCOT_ARTIFACTS:-$root/artifacts/train-bundled}"
export DARCOT_ARTIFACTS="$artifacts"
dotnet build samples/TrainBundledModel/TrainBundledModel.csproj -c Release -nologo -v q
tool="$artifacts/bin/TrainBundledModel/release/TrainBundledModel.dll"

dotnet "$tool" train --images "$images" --out samples/models --holdout chelsea.png \
  --steps 2600 --batch 8 --patch 64 --lr 1e-3 --seed 1 --threads 1 --eval-every 200 "$@" \
  | tee samples/models/training_output.txt
dotnet "$tool" eval --images "$images" --holdout chelsea.png --weights samples/models/bundled-denoise-nafnet-rec.safetensors --threads 1 \
  | tee samples/models/eval.txt

# README pictures with the real command line: rebuild the CLI so that the library embeds the new weights.
dotnet build samples/DaRcot.Cli/DaRcot.Cli.csproj -c Release -nologo -v q
dotnet "$tool" assets --images "$images" --holdout chelsea.png --assets samples/images
dotnet "$artifacts/bin/DaRcot.Cli/release/darcot.dll" restore samples/images/chelsea_noisy25.png -o samples/images/chelsea_restored.png
dotnet "$tool" sidebyside --holdout chelsea.png --assets samples/images | tee -a samples/models/eval.txt
