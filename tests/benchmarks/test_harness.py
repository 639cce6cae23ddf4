"""The helpers every benchmark shares: readiness, percentiles, machine info, reports."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.errors import BenchError
from benchmarks.harness import (
    CPU_FLAGS,
    ISA_LIMITS,
    free_port,
    machine_info,
    machine_line,
    percentiles,
    serve,
    wait_until_ready,
    write_report,
)


def test_percentiles_in_milliseconds() -> None:
    stats = percentiles([i / 1000 for i in range(1, 101)])
    assert stats["n"] == 100
    assert 50 <= stats["p50_ms"] <= 51
    assert 99 <= stats["p99_ms"] <= 100
    assert stats["max_ms"] == 100.0
    assert percentiles([]) == {"n": 0}


def test_percentiles_by_hand() -> None:
    stats = percentiles([0.001, 0.002, 0.003, 0.004, 0.005])
    assert stats["p50_ms"] == 3.0
    assert stats["mean_ms"] == 3.0
    assert stats["n"] == 5


def test_machine_info_names_the_cpu() -> None:
    info = machine_info()
    assert info["cpu"] and info["cores"] >= 1
    assert set(info["cpu_flags"]) <= set(CPU_FLAGS)
    assert "numpy" in info["libraries"]
    json.dumps(info)  # goes into reports as it is


def test_machine_info_records_the_instruction_set_limits_a_run_was_under(monkeypatch) -> None:
    for name in ISA_LIMITS:
        monkeypatch.delenv(name, raising=False)
    assert machine_info()["isa_limits"] == {}
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    limits = machine_info()["isa_limits"]
    assert limits == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_write_report_saves_json_and_prints_the_summary_with_the_cpu(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("MARKETPLACE_BENCH_HIDDEN_ISA", raising=False)
    path = write_report({"ok": True}, tmp_path / "deep" / "bench.json", "bench: fine")
    assert json.loads(path.read_text()) == {"ok": True}
    assert capsys.readouterr().out.strip() == f"bench: fine [{machine_line()}] -> {path}"
    assert machine_line().startswith(machine_info()["cpu"])
    monkeypatch.setenv("MARKETPLACE_BENCH_HIDDEN_ISA", "avx512,amx,avx_vnni")
    assert machine_line().endswith(", avx512,amx,avx_vnni hidden")


def test_the_cpu_is_named_by_vendor_family_and_model_from_the_first_processor(
    tmp_path, monkeypatch
) -> None:
    import builtins

    cpuinfo = tmp_path / "cpuinfo"
    block = (
        "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {m}\n"
        "model name\t: AMD EPYC\nstepping\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
    )
    cpuinfo.write_text(block.format(n=0, m=17) + block.format(n=1, m=99))
    real_open = builtins.open
    monkeypatch.setattr(
        builtins,
        "open",
        lambda f, *a, **k: real_open(cpuinfo if f == "/proc/cpuinfo" else f, *a, **k),
    )
    info = machine_info()
    assert info["cpu"] == "AMD EPYC"
    assert info["cpu_id"] == "AuthenticAMD family 25 model 17 stepping 1"
    assert info["cpu_flags"] == ["avx2", "avx512f", "avx512_bf16"]


class _Warming(BaseHTTPRequestHandler):
    """``/readyz`` answers 503 for the first few requests, then 200."""

    not_ready_left = 3

    def do_GET(self) -> None:
        cls = type(self)
        status = 503 if cls.not_ready_left > 0 else 200
        cls.not_ready_left -= 1
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def warming_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Warming)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_wait_until_ready_waits_for_a_200(warming_server: str) -> None:
    wait_until_ready(warming_server, 10, lambda: None, poll_s=0.01)
    assert _Warming.not_ready_left < 0


def test_wait_until_ready_stops_when_the_server_stopped() -> None:
    with pytest.raises(BenchError, match="gone"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}", 10, lambda: "gone")


def test_wait_until_ready_gives_up_after_the_timeout() -> None:
    with pytest.raises(BenchError, match="not ready within"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}", 0.2, lambda: None)


def test_a_server_that_refuses_to_start_is_one_line(tmp_path, monkeypatch) -> None:
    """``marketplace serve`` on a folder with no model exits; the error is its last line."""
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    with pytest.raises(BenchError) as info, serve(tmp_path / "no-data", ready_timeout_s=120):
        pass
    message = str(info.value)
    assert "exited with 2 before it was ready" in message and "no model" in message
    assert "\n" not in message
