#!/bin/bash
# A fit whose rows are split over the GPUs of two nodes: one process per GPU, jax.distributed joining them.
# jax.distributed.initialize() reads the coordinator (the first node), the process count and each process's id
# from Slurm's variables; sharded_fit.py then fits with shards=8, so each chain's rows span 8 GPUs and the
# 16 GPUs hold 2 chains. Submit with: sbatch benchmarks/cluster/slurm.sh
#SBATCH --job-name=bayesmm-sharded
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=01:00:00
set -euo pipefail
source .venv/bin/activate   # jax[cuda12] installed beside bayesmm
srun python benchmarks/cluster/sharded_fit.py --shards 8 --chains 2 --model poisson --rows 100000000 \
    --warmup 1000 --draws 1000 --out "draws-${SLURM_JOB_ID}.npz"
