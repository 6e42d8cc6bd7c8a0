#!/usr/bin/env bash
# Run the benchmarks one after another and rewrite benchmarks/RESULTS.md.
#
#   bash benchmarks/run_all.sh                 # every benchmark that needs no GUI
#   bash benchmarks/run_all.sh scale convert   # only these (names as in benchmarks/results/)
#   BENCH_GUI=1 bash benchmarks/run_all.sh     # also gui and bridge (Qt, offscreen)
#
# Ratio benchmarks run twice in a row (--times 2): the machine may be shared, RESULTS.md shows both.
# overhead uses the first shared local server with RYVEN_COMFY_REUSE_SERVERS=1 (else it starts its
# own on port 18288); failover and failover_hang always start their own three servers on ports
# 18388-18390 (they kill or stop one) and stop them afterwards. bridge uses the servers on 18188
# and 18191 (see bench_bridge.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    names=(overhead makespan failover failover_hang scale convert metrics)
    [[ "${BENCH_GUI:-}" == 1 ]] && names+=(gui bridge)
fi
for name in "${names[@]}"; do
    echo "== $name" >&2
    case "$name" in
        overhead) $PY -m benchmarks.bench_overhead --times 2 ;;
        makespan) $PY -m benchmarks.bench_makespan --times 2 ;;
        failover) $PY -m benchmarks.bench_failover ;;
        failover_hang) $PY -m benchmarks.bench_failover --hang ;;
        scale) $PY -m benchmarks.bench_scale --times 2 ;;
        convert) $PY -m benchmarks.bench_convert ;;
        metrics) $PY -m benchmarks.bench_metrics --times 2 ;;
        gui) QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1 $PY -m benchmarks.bench_gui ;;
        bridge) QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1 $PY -m benchmarks.bench_bridge ;;
        *) echo "unknown benchmark: $name" >&2; exit 2 ;;
    esac
done
$PY -m benchmarks.report
