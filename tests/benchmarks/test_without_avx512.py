"""The AVX-512 mask: every library in a masked process sees an AVX2 CPU, crashes still crash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import without_avx512
from benchmarks.errors import BenchError

needs_mask = pytest.mark.skipif(
    not without_avx512.cpuid_faulting() or shutil.which("cc") is None,
    reason="needs CPUID faulting (cpuid_fault) and a C compiler",
)


@pytest.fixture(scope="module")
def masked(tmp_path_factory) -> dict[str, str]:
    preload = without_avx512.build_preload(tmp_path_factory.mktemp("isa"))
    return without_avx512.masked_env(preload, dict(os.environ))


def _run(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


@needs_mask
def test_a_masked_process_sees_no_avx512_and_auto_precision_is_fp32(masked) -> None:
    seen = without_avx512._seen_in(masked)
    assert seen["numpy_avx512f"] is False
    assert seen["numpy_avx2"] is True
    assert seen["torch"] in {"AVX2", "DEFAULT"}
    assert not any(option.startswith("AVX512") for option in seen["faiss"])
    assert seen["precision_auto"] == "fp32"


@needs_mask
def test_the_mask_reaches_programs_the_masked_process_starts(masked) -> None:
    code = (
        "import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c', "
        "'from numpy._core._multiarray_umath import __cpu_features__ as f; "
        'import sys; sys.exit(7 if f["AVX512F"] else 0)\']).returncode)'
    )
    assert _run(code, masked).returncode == 0


@needs_mask
def test_a_real_segmentation_fault_still_kills_the_process(masked) -> None:
    plain = _run("import ctypes; ctypes.string_at(0)", masked)
    assert plain.returncode == -11
    # Python's faulthandler installs its own handler after the mask's: it still reports.
    reported = _run("import ctypes; ctypes.string_at(0)", masked, "-X", "faulthandler")
    assert reported.returncode == -11
    assert "Segmentation fault" in reported.stderr


@needs_mask
def test_the_shared_object_is_built_once_per_source(tmp_path) -> None:
    first = without_avx512.build_preload(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert without_avx512.build_preload(tmp_path) == first
    assert first.stat().st_mtime_ns == stamp


def test_without_a_compiler_it_says_so_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(without_avx512, "cpuid_faulting", lambda: True)
    monkeypatch.setattr(without_avx512.shutil, "which", lambda name: None)
    with pytest.raises(BenchError, match="no C compiler"):
        without_avx512.build_preload(tmp_path)
    assert without_avx512.main(["--cache-dir", str(tmp_path), "--", "true"]) == 2
    assert capsys.readouterr().err.startswith("error: no C compiler")


def test_without_cpuid_faulting_it_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(without_avx512, "cpuid_faulting", lambda: False)
    with pytest.raises(BenchError, match="CPUID faulting"):
        without_avx512.build_preload(tmp_path)


def test_the_mask_is_added_to_an_existing_preload_and_tunables(tmp_path) -> None:
    base = {"LD_PRELOAD": "/lib/other.so", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    env = without_avx512.masked_env(tmp_path / "mask.so", base)
    assert env["LD_PRELOAD"] == f"{tmp_path / 'mask.so'} /lib/other.so"
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{without_avx512.GLIBC_TUNABLES}"
    assert env[without_avx512.MARKER] == without_avx512.HIDDEN
