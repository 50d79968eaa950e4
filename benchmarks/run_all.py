"""Run every benchmarks/bench_*.py in turn (each prints its own table with goals and peers).

`python benchmarks/run_all.py [name-substring ...]` runs only the matching scripts."""
import subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

def main(argv):
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv: scripts = [s for s in scripts if any(a in s.name for a in argv)]
    failed = []
    for s in scripts:
        print(f"\n=== {s.name} " + "=" * max(0, 60 - len(s.name)), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(s)])
        print(f"--- {s.name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.1f}s", flush=True)
        if rc: failed.append(s.name)
    if failed: sys.exit(f"benchmarks failed: {', '.join(failed)}")

if __name__ == "__main__":
    main(sys.argv[1:])
