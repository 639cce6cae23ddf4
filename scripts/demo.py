"""``marketplace demo``: the main job, from raw data to a running search page.

It chains the other sub-commands (clean → train → reindex → serve) and skips
what an earlier run already prepared, so a second run starts serving in
seconds. Each step is the same code a user would run by hand.

A first run (no trained model yet) serves within minutes instead of after
training (``docs/first-run.md``): it builds a first index from the frozen
pretrained encoders (text and keywords only, ``indexing.first_index``) and
serves it at once, while ``marketplace train`` runs in a child process
writing its progress to the workspace's ``progress.json``. When training
ends, a ``marketplace reindex`` child builds the trained model's version;
the server, watching ``index/current``, takes it up with its model without
a restart (``api.model_swap``). The command line prints the progress every
few seconds, and the page shows it in a banner. Ctrl-C stops the server and
the child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from scripts.errors import CliError

REPORT_EVERY_S = 10.0
TRAIN_LOG = "train.log"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="prepare what is missing (clean, train, index), then serve the search page"
    )
    parser.add_argument("--data", type=Path, help="raw data folder (default: see README)")
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
    parser.add_argument(
        "--no-serve", action="store_true", help="prepare the model and index, then stop"
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="number format of training and encoding; auto: bf16 where the CPU has it",
    )
    parser.set_defaults(handler=run)


def _step(title: str, argv: list[str]) -> None:
    from scripts.cli import main

    print(f"\n==> {title}: marketplace {' '.join(argv)}", file=sys.stderr, flush=True)
    code = main(argv)
    if code:
        raise CliError(f"step '{title}' failed (exit {code})")


def _say(started: float, line: str) -> None:
    print(f"[demo {time.monotonic() - started:6.0f} s] {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from multimodal.bundle import MANIFEST
    from multimodal.workspace import Workspace
    from scripts.data import resolve_data_dir

    started = time.monotonic()
    if args.precision != "auto":  # the server's setting, and its children's
        os.environ["MARKETPLACE_PRECISION"] = args.precision
    data = resolve_data_dir(args.data)
    args.data = data
    ws = Workspace.for_data(data)
    data_args = ["--data", str(data)]
    precision = ["--precision", args.precision]

    _step("clean the catalogue", ["data", "clean", *data_args])
    trained = (ws.model_dir / MANIFEST).exists()
    if trained or args.no_serve:
        if trained:
            print(f"\n==> model: reusing {ws.model_dir}", file=sys.stderr)
        else:
            _step("train the model", ["train", *data_args, *precision])
        _step("build the index (incremental)", ["reindex", *data_args, *precision])
        if args.no_serve:
            return 0
        _step("serve", ["serve", *data_args, *_address(args)])
        return 0
    return _first_run(args, ws, data, started)


def _address(args: argparse.Namespace) -> list[str]:
    out = ["--host", args.host] if args.host else []
    return out + (["--port", str(args.port)] if args.port else [])


def _first_run(args: argparse.Namespace, ws, data: Path, started: float) -> int:
    """Serve the frozen first index now; train, reindex and hand over in the background."""
    from indexing.first_index import build_first_index
    from multimodal.config import ModelConfig
    from multimodal.frozen import frozen_model_dir
    from multimodal.progress import PROGRESS_FILE, Progress
    from scripts.serve import settings_from

    progress_path = ws.root / PROGRESS_FILE
    frozen_dir = frozen_model_dir(ws.root)
    if not _serves_frozen(ws.index_dir, frozen_dir):
        print("\n==> first index: the frozen encoders, text only", file=sys.stderr, flush=True)
        reporter = _Reporter(progress_path, started, "first index")
        reporter.start()
        try:
            build_first_index(ws, ModelConfig(), 2, Progress(progress_path, job="first index"))
        finally:
            reporter.stop.set()
        _say(started, "first index written")
    settings = settings_from(args, host=args.host, port=args.port, model_dir=frozen_dir)
    children = _Children()
    handover = threading.Thread(
        target=_train_and_hand_over,
        args=(args, ws, data, settings, children, started),
        name="demo-handover",
        daemon=True,
    )
    handover.start()
    try:
        return _serve(settings)
    finally:
        children.stop()


def _serves_frozen(index_root: Path, frozen_dir: Path) -> bool:
    """Whether the current index version is the frozen bundle's (a re-run after Ctrl-C)."""
    from indexing.index_store import IndexDirectory, IndexManifest

    current = IndexDirectory(index_root).current()
    if current is None or not (frozen_dir / "manifest.json").is_file():
        return False
    return IndexManifest.read(current).model_dir == str(frozen_dir.resolve())


def _serve(settings) -> int:
    from api.observability.logs import json_logging, logging_config
    from scripts.serve import serve_one

    config = logging_config()
    with json_logging(config):
        return serve_one(settings, config)


class _Children:
    """The child processes (training, then the reindex), stopped together on exit."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self, argv: list[str], log: Path) -> subprocess.Popen | None:
        with self._lock:
            if self.stopping.is_set():
                return None
            with log.open("ab") as out:
                proc = subprocess.Popen(  # its own session: Ctrl-C reaches the demo only
                    [sys.executable, "-m", "scripts.cli", *argv],
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            self._procs.append(proc)
            return proc

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in self._procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


class _Reporter(threading.Thread):
    """Prints the progress file's line on the command line when it changes (at most
    every ``REPORT_EVERY_S``)."""

    def __init__(self, path: Path, started: float, job: str) -> None:
        super().__init__(name="demo-progress", daemon=True)
        self.path, self.started, self.job = path, started, job
        self.stop = threading.Event()

    def run(self) -> None:
        from multimodal.progress import describe, read_progress

        last = ""
        while not self.stop.wait(REPORT_EVERY_S):
            state = read_progress(self.path)
            if not state or state.get("job") != self.job:
                continue  # an earlier job's last words
            line = f"{self.job}: {describe(state)}"
            if line and line != last:
                _say(self.started, line)
                last = line


def _train_and_hand_over(args, ws, data: Path, settings, children: _Children, started) -> None:
    """Wait for the page, train in a child, reindex with the trained model, and wait
    until the server serves it; each milestone is one line on the command line."""
    from multimodal.progress import PROGRESS_FILE, Progress

    base = f"http://{settings.host}:{settings.port}"
    if _wait_for(f"{base}/readyz", lambda body: body.get("status") == "ready", children):
        _say(started, f"the page answers on {base}/ (first index: frozen encoders, text only)")
    progress_path = ws.root / PROGRESS_FILE
    log = ws.root / TRAIN_LOG
    common = ["--data", str(data), "--precision", args.precision]
    reporter = _Reporter(progress_path, started, "training")
    reporter.start()
    try:
        proc = children.start(["train", *common, "--progress-file", str(progress_path)], log)
        if proc is None or proc.wait() != 0:
            if not children.stopping.is_set():
                _say(started, f"training failed (see {log}); the first index keeps serving")
                Progress(progress_path).finish("failed", f"see {log}")
            return
        _say(started, "trained; indexing with the trained model")
        Progress(progress_path).update("indexing with the trained model", 0, 1, force=True)
        proc = children.start(["reindex", *common, "--quiet"], log)
        if proc is None or proc.wait() != 0:
            if not children.stopping.is_set():
                _say(started, f"the reindex failed (see {log}); the first index keeps serving")
                Progress(progress_path).finish("failed", f"the reindex: see {log}")
            return
    finally:
        reporter.stop.set()
    if _wait_for(f"{base}/progress", lambda body: body.get("model") == "trained", children):
        _say(started, "the trained model serves: photo search and every channel are on")


def _wait_for(url: str, done, children: _Children, every_s: float = 1.0) -> bool:
    """Poll ``url`` until ``done(json)``; False when the demo is stopping."""
    while not children.stopping.wait(every_s):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if done(json.loads(response.read())):
                    return True
        except (OSError, ValueError):
            continue
    return False
