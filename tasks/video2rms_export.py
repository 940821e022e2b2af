"""The ONNX export of a Video2RMS checkpoint (``sonorize export-onnx``, and the end of training).

The export is checked before it is stored: the graph on onnxruntime and the
PyTorch model must give the same probabilities on random windows within
:data:`ONNX_TOLERANCE`, else nothing is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_catalog.checkpoints import CheckpointError, save_onnx_export

__all__ = ["ONNX_TOLERANCE", "export_video2rms_onnx"]

# Largest difference allowed between the graph's and PyTorch's probabilities: float32 sums in another order
# (measured 4e-7 on the shipped checkpoint).
ONNX_TOLERANCE = 1e-5
CHECK_WINDOWS = 3  # random windows run through both before the export is kept

logger = logging.getLogger(__name__)


def export_video2rms_onnx(checkpoint: str | Path, *, seed: int = 0) -> Path:
    """Export checkpoint ``checkpoint`` (a Video2RMS ``.safetensors``) to ONNX beside it, with its sidecar.

    Returns
    -------
    Path
        The ``.onnx`` file (``best.safetensors`` -> ``best.onnx``, sidecar ``best.onnx.json``).

    Raises
    ------
    CheckpointError
        The checkpoint does not load, or the exported graph does not reproduce it within
        :data:`ONNX_TOLERANCE` (names the checkpoint).
    """
    import onnx
    import torch

    from folai_models.video2rms.onnx_export import ONNX_OPSET
    from folai_models.video2rms.onnx_export import export_video2rms_onnx as export_graph
    from folai_models.video2rms.onnx_model import OnnxVideo2RMS
    from tasks.engines.video2rms import torch_video2rms

    checkpoint = Path(checkpoint)
    model, _ = torch_video2rms(str(checkpoint), "cpu")
    graph = export_graph(model)
    config = model.config
    windows = np.random.default_rng(seed).normal(size=(CHECK_WINDOWS, config.window_frames, config.input_dim))
    windows = windows.astype(np.float32)
    with torch.inference_mode():
        logits, onset_logits = model.forward_with_onsets(torch.from_numpy(windows))
        expected = [torch.softmax(logits, dim=-1).numpy()]
        if onset_logits is not None:
            expected.append(torch.sigmoid(onset_logits).numpy())
    try:
        got = OnnxVideo2RMS(graph, config).window_outputs(windows)
    except ValueError as error:
        raise CheckpointError(checkpoint, f"its ONNX export does not load ({error})") from None
    difference = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
    if difference > ONNX_TOLERANCE:
        raise CheckpointError(checkpoint, f"its ONNX export differs from the model by {difference:.2g} "
                                          f"(allowed {ONNX_TOLERANCE:g}): not written")
    target = save_onnx_export(checkpoint, graph, exporter={
        "tool": "torch.onnx.export (TorchScript)", "torch": torch.__version__, "onnx": onnx.__version__,
        "opset": ONNX_OPSET, "max_abs_difference": difference,
    })
    logger.info("%s: ONNX export written (largest difference from PyTorch %.2g)", target, difference)
    return target
