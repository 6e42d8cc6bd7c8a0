#!/usr/bin/env bash
# Run every benchmark and rewrite benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m benchmarks.bench_overhead
$PY -m benchmarks.bench_makespan
$PY -m benchmarks.bench_failover
$PY -m benchmarks.bench_scale
[[ -f benchmarks/bench_convert.py ]] && $PY -m benchmarks.bench_convert
$PY -m benchmarks.report
