# Sourced by the CPU benchmarks (from the repository root): $work is their
# scratch directory, $calibration the embedded model's calibration file,
# made once from models/calibration-emma.txt.
work=build/bench-cpu
mkdir -p "$work"
calibration=$work/calibration-austen.json
[[ -s $calibration ]] || build/bin/lowbit-run calibrate --text models/calibration-emma.txt \
  --lines-as-documents -o "$calibration" 2>/dev/null
