"""coachgen against Hugo and MkDocs on synthetic practices, side by side in one run.

    python benchmarks/run.py [--rounds 3] [--sizes 1000,10000] [--out benchmarks/RESULTS.md]

Needs `hugo` (Debian's package) and `mkdocs` (pip) on the PATH. For each size it generates a
vault with the project's own generator, `coachgen.dev.synthetic` (1,000 notes: 20 clients x 50
sessions; 10,000: 100 x 100; the same vault on every run), then, each round, builds it cold
with coachgen (no output, no cache), Hugo (the minimal site in benchmarks/peers/hugo/, one page
per note) and MkDocs (default theme, one page per
note), alternating, and measures wall time and the peak memory of the whole process tree (summed
proportional set sizes).
It also measures coachgen's rebuild with nothing changed and after one note was edited, and
records coachgen's stage breakdown. Medians, min-max and per-round ratios go to RESULTS.md.
A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coachgen.dev import synthetic  # noqa: E402  (this checkout's generator, installed or not)

HUGO_SITE = ROOT / "benchmarks" / "peers" / "hugo"
SHAPES = synthetic.SHAPES  # notes -> (clients, sessions per client)
TARGETS = """| figure | target | floor |
| --- | --- | --- |
| cold build, coachgen time / Hugo time | at most 0.5 | at most 1.0 |
| cold build, coachgen time / MkDocs time | at most 0.1 | at most 0.2 |
| rebuild with nothing changed | at most 0.5 s | at most 1.5 s |
| one session note edited, then `coachgen build` | at most 0.5 s | at most 1.5 s |
| peak memory of a cold build | at most 400 MB | at most 800 MB |
| time per note from 1,000 to 10,000 notes | flat (within 20%) | within 50% |"""


def tree_memory_kb(pid: int) -> int:
    """Memory of a process and all its descendants, from /proc: the sum of their proportional
    set sizes, so that a page forked workers share with their parent counts once (summed
    resident sizes would count it once per process)."""
    total, pending = 0, [pid]
    while pending:
        p = pending.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    pending += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> tuple[float, float, str]:
    """(seconds, peak MB of the process tree, stderr) of one command. A command still running
    after `timeout` seconds is stopped, and its time is that bound (a lower bound, said so)."""
    os.sync()  # the disk settled: what the last build left to write back is not this one's to pay
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(env))
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_memory_kb(proc.pid))
        if timeout and time.perf_counter() - started > timeout:
            proc.kill()
            proc.wait()
            return timeout, peak / 1024, "timed out"
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return seconds, peak / 1024, err


def _env(extra: dict | None) -> dict:
    """The environment of a measured command: this one, but that Python reads and writes its
    compiled bytecode as an installed coachgen does (some sandboxes set PYTHONDONTWRITEBYTECODE,
    and compiling every module at each start would cost coachgen 0.2 s a build)."""
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def coachgen(vault: Path, out: Path, *extra: str) -> tuple[float, float, str]:
    return measure([sys.executable, "-m", "coachgen", "build", str(vault), "--out", str(out),
                    "--today", "2026-03-20", "--timings", *extra], {"PYTHONPATH": str(ROOT)})


def cold_coachgen(vault: Path, out: Path):
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(vault / ".coachgen", ignore_errors=True)
    return coachgen(vault, out)


def hugo(vault: Path, out: Path):
    shutil.rmtree(out, ignore_errors=True)
    return measure(["hugo", "--quiet", "--source", str(HUGO_SITE), "--contentDir", str(vault / "clients"),
                    "--destination", str(out)])


def mkdocs(vault: Path, out: Path, work: Path, timeout: float):
    shutil.rmtree(out, ignore_errors=True)
    config = work / f"mkdocs-{vault.name}.yml"
    config.write_text(f"site_name: coachgen benchmark peer\ndocs_dir: {vault / 'clients'}\nsite_dir: {out}\n"
                      "theme: mkdocs\nuse_directory_urls: true\n")
    return measure([sys.executable, "-m", "mkdocs", "build", "--quiet", "--config-file", str(config)], timeout=timeout)


def stages(stderr: str) -> str:
    m = re.search(r"stages: (.*)", stderr)
    return m.group(1) if m else ""


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not found"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    mem = mem_kb // 1024 // 1024
    commit = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return (f"- machine: {os.cpu_count()} cores ({cpu}), {mem} GiB memory, {platform.system()} {platform.release()}\n"
            f"- coachgen {commit}, Python {platform.python_version()}\n"
            f"- {version(['hugo', 'version'])}\n- {version([sys.executable, '-m', 'mkdocs', '--version'])}\n"
            f"- measured {dt.datetime.now():%Y-%m-%d %H:%M}, with `python benchmarks/run.py`")


def fmt(values: list[float], unit: str = "s") -> str:
    return f"{statistics.median(values):.2f} {unit} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mkdocs-timeout", type=float, default=900,
                        help="seconds after which a MkDocs build is stopped and counted as at least that long")
    parser.add_argument("--mkdocs-rounds", type=int, default=1,
                        help="rounds in which MkDocs builds the 10,000-note vault (each takes many minutes)")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    opts = parser.parse_args()
    opts.work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "coachgen")], check=True, env=_env(None))
    report = ["# Benchmark results", "", machine(),
              "- peak memory: the largest sum of proportional set sizes (PSS) over the build's process tree,"
              " sampled every 20 ms (a page that forked workers share counts once)",
              "- each build starts after `sync`: what the build before it left to write back (a cold build's"
              " gigabyte of pages) is not charged to it", ""]
    per_note = {}
    summary = {}
    for size in [int(s) for s in opts.sizes.split(",")]:
        clients, sessions = SHAPES[size]
        vault = opts.work / f"synthetic-{clients}x{sessions}"  # made once, then reused
        if not vault.exists():
            synthetic.write_vault(vault, clients=clients, sessions=sessions)
        rows: dict[str, list] = {"coachgen": [], "hugo": [], "mkdocs": [], "nochange": [], "onenote": []}
        breakdown = ""
        for r in range(opts.rounds):
            out = opts.work / "out"
            rows["coachgen"].append(cold_coachgen(vault, out / "coachgen"))
            breakdown = stages(rows["coachgen"][-1][2])
            rows["nochange"].append(coachgen(vault, out / "coachgen"))
            note = sorted(vault.glob("clients/*/sessions/*.md"))[r * 37 % (clients * sessions)]
            note.write_text(note.read_text() + f"\nEdited in round {r}.\n")
            time.sleep(2.1)  # older than the stamp's trust window, as a real edit before a build would be
            rows["onenote"].append(coachgen(vault, out / "coachgen"))
            rows["hugo"].append(hugo(vault, out / "hugo"))
            if size < 10000 or r < opts.mkdocs_rounds:
                rows["mkdocs"].append(mkdocs(vault, out / "mkdocs", opts.work, opts.mkdocs_timeout))
            times = ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in rows.items() if v)
            print(f"{size} notes, round {r + 1}: " + times, flush=True)
        secs = {k: [m[0] for m in v] for k, v in rows.items()}
        peak = {k: [m[1] for m in v] for k, v in rows.items()}
        to_hugo = [c / h for c, h in zip(secs["coachgen"], secs["hugo"], strict=True)]
        # MkDocs may have run fewer rounds than coachgen: the ratios cover the rounds it ran.
        to_mkdocs = [c / m for c, m in zip(secs["coachgen"], secs["mkdocs"], strict=False)]
        mkdocs_note = f" ({len(secs['mkdocs'])} of {opts.rounds} rounds)" if len(secs["mkdocs"]) < opts.rounds else ""
        if any(m[2] == "timed out" for m in rows["mkdocs"]):
            mkdocs_note += f", stopped after {opts.mkdocs_timeout:.0f} s: a lower bound"
        per_note[size] = statistics.median(secs["coachgen"]) / size * 1000
        bound = "< " if any(m[2] == "timed out" for m in rows["mkdocs"]) else ""
        summary[size] = (to_hugo, to_mkdocs, secs, peak, bound)
        report += [
            f"## {size:,} notes ({clients} clients x {sessions} sessions), {opts.rounds} rounds",
            "",
            "| build | time, median (min–max) | peak memory, median (min–max) |",
            "| --- | --- | --- |",
            f"| coachgen, cold | {fmt(secs['coachgen'])} | {fmt(peak['coachgen'], 'MB')} |",
            f"| Hugo, cold | {fmt(secs['hugo'])} | {fmt(peak['hugo'], 'MB')} |",
            f"| MkDocs, cold{mkdocs_note} | {fmt(secs['mkdocs'])} | {fmt(peak['mkdocs'], 'MB')} |",
            f"| coachgen, nothing changed | {fmt(secs['nochange'])} | {fmt(peak['nochange'], 'MB')} |",
            f"| coachgen, one note edited | {fmt(secs['onenote'])} | {fmt(peak['onenote'], 'MB')} |",
            "",
            "Per round, coachgen / Hugo: " + ", ".join(f"{x:.2f}" for x in to_hugo)
            + "; coachgen / MkDocs: " + ", ".join(f"{bound}{x:.3f}" for x in to_mkdocs) + ".",
            "",
            f"coachgen's stages in the last cold build: {breakdown}.",
            "",
        ]
    if 10000 in summary:
        to_hugo, to_mkdocs, secs, peak, bound = summary[10000]
        flat = (f"{per_note[10000] / per_note[1000]:.2f}x ({per_note[1000]:.2f} ms to {per_note[10000]:.2f} ms a note)"
                if 1000 in per_note else "n/a")
        report += [
            "## The targets at 10,000 notes, from this run",
            "",
            TARGETS.replace("| figure | target | floor |", "| figure | target | floor | measured |").replace(
                "| --- | --- | --- |", "| --- | --- | --- | --- |"),
        ]
        measured = [f"{statistics.median(to_hugo):.2f}", f"{bound}{statistics.median(to_mkdocs):.3f}",
                    f"{statistics.median(secs['nochange']):.2f} s", f"{statistics.median(secs['onenote']):.2f} s",
                    f"{statistics.median(peak['coachgen']):.0f} MB", flat]
        lines = report[-1].split("\n")
        report[-1] = "\n".join(lines[:2] + [line + f" {m} |" for line, m in zip(lines[2:], measured, strict=False)])
        report.append("")
    opts.out.write_text("\n".join(report) + "\n")
    print(f"written to {opts.out}")


if __name__ == "__main__":
    main()
