#!/bin/bash
# usage: bench/voice/profile.sh console|twilio CALLS OUT.raw   (py-spy raw stacks of engine serve under load)
# then: python bench/voice/profile_summary.py OUT.raw
set -e
cd "$(dirname "$0")/../.."; mkdir -p /tmp/vb
python -c "import sys; sys.path.insert(0,'bench/voice'); from graph import write_graph; from pathlib import Path; write_graph(Path('/tmp/vb'), $2, 80)"
python bench/voice/sim.py /tmp/vb/voice_bench.yaml --cpu 0 > /tmp/vb/psim.out 2>/tmp/vb/psim.err & SIMPID=$!
sleep 3; SIM=$(head -1 /tmp/vb/psim.out)
taskset -c 1 python -m engine.cli serve /tmp/vb/voice_bench.yaml --url $SIM --port 18811 --max-calls 10000 --db /tmp/vb/pcalls.db > /tmp/vb/pserve.out 2>/tmp/vb/pserve.err & SRV=$!
sleep 5
python bench/voice/load.py $1 --url http://127.0.0.1:18811 --calls $2 --pid $SRV --seconds 14 --warmup 1 --cpu 0 > /tmp/vb/pload.out & LOAD=$!
sleep $(( $2 / 40 + 4 ))
py-spy record -p $SRV -d ${PYSPY_SECONDS:-8} -r ${PYSPY_RATE:-50} --format raw -o $3 --nonblocking > /dev/null 2>&1 || true
wait $LOAD; cat /tmp/vb/pload.out
kill $SRV $SIMPID
