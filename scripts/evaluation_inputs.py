"""What every model evaluation command opens first: the workspace, its cleaned
catalogue and its model, loaded as it is served (``multimodal.precision``,
the runtime engine), or one ``CliError`` line saying what is missing."""

from __future__ import annotations

import argparse

from scripts.errors import CliError


def open_evaluation_inputs(args: argparse.Namespace):
    """``(workspace, catalogue, embedder)`` for ``args.data``, with torch limited to
    ``args.threads`` (2 when the command has no such option)."""
    import torch

    from multimodal.bundle import BundleError
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.embedder import Embedder
    from multimodal.workspace import Workspace
    from scripts.data import resolve_data_dir

    threads = getattr(args, "threads", 2)
    if threads < 1:
        raise CliError(f"--threads must be at least 1, not {threads}")
    workspace = Workspace.for_data(resolve_data_dir(args.data))
    torch.set_num_threads(threads)
    try:
        catalogue = load_clean_catalogue(workspace.clean_dir)
        embedder = Embedder.load(workspace.model_dir)
    except (FileNotFoundError, BundleError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    return workspace, catalogue, embedder
