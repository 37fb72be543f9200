#!/bin/bash
# Submits the pre-computation array and the training job that waits for it (run from the
# repository root, so that the jobs find deploy/slurm/settings.sh).
set -euo pipefail
mkdir -p logs
array=$(sbatch --parsable deploy/slurm/precompute.sbatch)
train=$(sbatch --parsable --dependency=afterok:"${array%%;*}" deploy/slurm/train.sbatch)
echo "pre-computation array ${array}, training ${train} (runs when every array task succeeded)"
