"""Run a benchmark as if the CPU had no AVX-512, AMX or AVX-VNNI (issue 22's "CPU without bf16").

Issue 22's targets hold on a 2-core CPU without bf16, such as an AMD EPYC
without AVX-512, and the only machine here is a Xeon with AVX-512 and AMX.
The libraries' own switches (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``,
``OPENBLAS_CORETYPE``) hold torch and OpenBLAS to AVX2, but ONNX Runtime,
OpenVINO, FAISS and NumPy each read CPUID themselves and kept their AVX-512
kernels. This runs a command with ``isa/hide_avx512.c`` preloaded: with
Linux's CPUID faulting it clears those feature bits from every CPUID that
every process of the command executes, so each library picks the kernels it
would pick on such a CPU, and ``--precision auto`` resolves to fp32 as it
would there. It stands in for the instruction set, not for another chip's
clock, caches or memory.

    python -m benchmarks.without_avx512 --check
    python -m benchmarks.without_avx512 -- python -m benchmarks.first_run --data DATA --home HOME

The shared object is compiled with ``cc`` into a cache directory on first use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.errors import BenchError

SOURCE = Path(__file__).with_name("isa") / "hide_avx512.c"
HIDDEN = "avx512,amx,avx_vnni"
# glibc picks its string functions at start-up, before the preload's constructor runs.
GLIBC_TUNABLES = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
MARKER = "MARKETPLACE_BENCH_HIDDEN_ISA"  # recorded and named by benchmarks.harness


def cpuid_faulting() -> bool:
    """True where the kernel offers CPUID faulting (the ``cpuid_fault`` flag)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(
        line.startswith("flags") and "cpuid_fault" in line.split() for line in text.splitlines()
    )


def build_preload(cache_dir: Path) -> Path:
    """The compiled shared object, built once per version of the source."""
    if not cpuid_faulting():
        raise BenchError(
            "this kernel or CPU has no CPUID faulting (cpuid_fault): cannot hide AVX-512"
        )
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise BenchError("no C compiler (cc) to build the AVX-512 mask: apt-get install gcc")
    source = SOURCE.read_bytes()
    target = cache_dir / f"hide_avx512-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        built = Path(scratch) / target.name
        done = subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(SOURCE), "-ldl"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BenchError(f"building the AVX-512 mask failed: {done.stderr.strip()[:300]}")
        built.replace(target)  # atomic: a concurrent build finds a whole file or none
    return target


def masked_env(preload: Path, base: dict[str, str]) -> dict[str, str]:
    """``base`` with the mask preloaded into every process started from it."""
    preloads = " ".join(p for p in (str(preload), base.get("LD_PRELOAD", "")) if p)
    tunables = ":".join(t for t in (base.get("GLIBC_TUNABLES", ""), GLIBC_TUNABLES) if t)
    return {**base, "LD_PRELOAD": preloads, "GLIBC_TUNABLES": tunables, MARKER: HIDDEN}


def seen_features() -> dict[str, object]:
    """What this process's libraries see of the CPU, and what ``--precision auto`` picks."""
    import faiss
    import threadpoolctl
    import torch
    from numpy._core._multiarray_umath import __cpu_features__ as numpy_features

    from multimodal.precision import resolve_precision

    return {
        "numpy_avx512f": bool(numpy_features.get("AVX512F")),
        "numpy_avx2": bool(numpy_features.get("AVX2")),
        "torch": torch.backends.cpu.get_cpu_capability(),
        "faiss": faiss.get_compile_options().split(),
        "openblas": sorted(
            {i.get("architecture") or "" for i in threadpoolctl.threadpool_info()} - {""}
        ),
        "precision_auto": resolve_precision("auto"),
    }


def _seen_in(env: dict[str, str]) -> dict[str, object]:
    """``seen_features`` in a new process with ``env`` (the mask acts from a process's start)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.without_avx512", "--seen"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the check's child failed: {last}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="show what the libraries see, with and without the mask",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "marketplace-isa"
    )
    parser.add_argument("--seen", action="store_true", help=argparse.SUPPRESS)  # for --check
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args(argv)
    if args.seen:
        print(json.dumps(seen_features()))
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.check and not command:
        parser.error("give --check, or a command after --")
    try:
        env = masked_env(build_preload(args.cache_dir), dict(os.environ))
        if args.check:
            print(
                json.dumps({"host": _seen_in(dict(os.environ)), "masked": _seen_in(env)}, indent=1)
            )
            return 0
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return subprocess.run(command, env=env).returncode
    except FileNotFoundError:
        print(f"error: no such command: {command[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
