"""Save-to-page latency of `coachgen watch` on a synthetic vault (issue 4's benchmark).

    python benchmarks/watch_latency.py [--clients 100] [--sessions 100] [--edits 20]

Generates a vault with the project's own generator (`coachgen.dev.synthetic`), builds it once, then watches it with
a real watchdog observer and saves 20 session notes one at a time (each edit changes the
note's body, as a coach typing would). For each save it measures the time from the write
to the moment the last affected page is written (the end of the build it triggered),
and prints the median, min and max. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coachgen.dev import synthetic, watch  # noqa: E402
from coachgen.engine import output, site  # noqa: E402


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--clients", type=int, default=100)
    args.add_argument("--sessions", type=int, default=100)
    args.add_argument("--edits", type=int, default=20)
    args.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work")
    opts = args.parse_args()
    vault = opts.work / f"synthetic-{opts.clients}x{opts.sessions}"  # made once, then reused
    if not vault.exists():
        synthetic.write_vault(vault, clients=opts.clients, sessions=opts.sessions)
    out = opts.work / f"out-{opts.clients}x{opts.sessions}"
    today = dt.date(2026, 3, 20)
    if out.exists() and not output.Output(vault, out).owned:  # run.py's cold builds delete the vault's records
        shutil.rmtree(out)
    if not out.exists():  # as `coachgen build` leaves it, for a watcher to start from
        site.build(vault, out=out, today=today)
    builder = site.Builder(vault, out=out, today=today, disk_cache=True, keep_last_good=True)
    started = time.perf_counter()
    first = builder.build()
    print(f"first build: {len(first.written)} files written in {time.perf_counter() - started:.1f} s; "
          f"{len(builder.cold)} clients planned from the disk, to be readied while idle", flush=True)
    builder.save_cache = False  # as `coachgen watch` does: the parse cache is saved when it ends
    gc.collect()
    gc.freeze()

    batches = watch.Batches(vault, out)
    observer = watch.observe(vault, batches, False, print)
    ended = threading.Event()
    builds = []

    def on_build(result, changed, exc):
        builds.append((time.perf_counter(), result, changed, exc))
        ended.set()

    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(builder, batches, on_build, stop, 3600), daemon=True)
    thread.start()
    notes = sorted(vault.glob("clients/*/sessions/*.md"))
    rng = random.Random(7)
    latencies = []
    time.sleep(1.0)
    waited = time.perf_counter()
    while builder.cold and time.perf_counter() - waited < 60:  # the watcher readies each client while idle
        time.sleep(0.1)
    print(f"clients readied for their first save {time.perf_counter() - waited + 1.0:.1f} s after the first build",
          flush=True)
    for i in range(opts.edits):
        note = rng.choice(notes)
        text = note.read_text()
        ended.clear()
        saved = time.perf_counter()
        note.write_text(text + f"\nA thought added while watching, edit {i}.\n")
        if not ended.wait(30):
            print(f"edit {i}: no build within 30 s")
            continue
        done, result, changed, exc = builds[-1]
        latencies.append((done - saved) * 1000)
        print(f"edit {i}: {note.relative_to(vault)} -> {len(result.written)} files in {latencies[-1]:.0f} ms "
              f"(build {result.seconds * 1000:.0f} ms)", flush=True)
        time.sleep(0.3)
    stop.set()
    observer.stop()
    print(f"\nsave -> last affected page written, {len(latencies)} edits on {opts.clients * opts.sessions} notes: "
          f"median {statistics.median(latencies):.0f} ms, min {min(latencies):.0f} ms, max {max(latencies):.0f} ms")


if __name__ == "__main__":
    main()
