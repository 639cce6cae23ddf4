"""``marketplace bench scaling`` end to end, and the run-them-all handler."""

import argparse
import json

from scripts.bench import run_all_handler
from scripts.cli import main
from scripts.errors import CliError


def test_scaling_command_writes_report_and_plots(tmp_path, capsys):
    code = main(
        ["bench", "scaling", "--sizes", "500,1000", "--queries", "5", "--dim", "16",
         "--bandwidth-mib", "8", "--reports-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "scaling_bench.json").read_text())
    assert [s["size"] for s in report["sizes"]] == [500, 1000]
    assert (tmp_path / "scaling_latency_vs_size.png").is_file()
    assert "1,000 vectors" in capsys.readouterr().out


def test_bad_sizes_are_a_one_line_error(capsys):
    assert main(["bench", "scaling", "--sizes", "10k"]) == 2
    assert "--sizes takes comma-separated integers" in capsys.readouterr().err


def test_run_all_runs_every_benchmark_and_reports_failures(capsys):
    ran = []

    def ok(args):
        ran.append("ok")
        return 0

    def broken(args):
        ran.append("broken")
        raise CliError("no model")

    parser = argparse.ArgumentParser()
    benchmarks = parser.add_subparsers()
    benchmarks.add_parser("broken").set_defaults(handler=broken)
    benchmarks.add_parser("ok").set_defaults(handler=ok)
    assert run_all_handler(benchmarks)(argparse.Namespace()) == 1
    assert ran == ["broken", "ok"]
    assert "1/2 benchmarks ran; failed: broken" in capsys.readouterr().out


def test_evaluate_retrieval_without_a_catalogue_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    assert main(["evaluate", "retrieval", "--data", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no cleaned catalogue" in err[0]
