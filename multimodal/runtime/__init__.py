"""The inference runtime: a trained bundle's encoders exported to ONNX and run by
ONNX Runtime, several times faster on a CPU than eager torch (``docs/runtime.md``).

torch trains and stays the fallback; the runtime only runs inference. One job
a module: ``engine`` names the engines (torch-free, for configs), ``export``
writes the graphs, ``cache`` keeps them beside the bundle keyed by its
fingerprint and opens them, ``session`` runs them. Import the modules
themselves: this package imports nothing, so naming an engine loads no torch.
"""
