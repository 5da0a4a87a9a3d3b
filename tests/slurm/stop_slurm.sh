#!/usr/bin/env bash
# Stop the daemons started by start_slurm.sh.
pkill -x slurmd || true
pkill -x slurmctld || true
pkill -x munged || true
