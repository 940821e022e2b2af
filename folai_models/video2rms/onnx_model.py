"""Video2RMS windows on onnxruntime (CPU): the shipped model without importing PyTorch.

:class:`OnnxVideo2RMS` runs the graph :mod:`~folai_models.video2rms.onnx_export`
writes and gives :func:`~folai_models.video2rms.decode.predict_outputs` the same
per-window probabilities as the PyTorch model (float sums in another order: within
1e-5, tested). Importing onnxruntime costs ~0.5 s and ~45 MB of resident memory;
this install's PyTorch (a CUDA build) ~5 s and ~600 MB.
"""

from __future__ import annotations

import os

import numpy as np

from folai_models.video2rms.config import Video2RMSConfig

__all__ = ["ONNX_CPU_THREADS", "OnnxVideo2RMS"]

# One thread, as for PyTorch (decode.PREDICT_CPU_THREADS): the model is small, a second thread mostly synchronises.
ONNX_CPU_THREADS = 1


class OnnxVideo2RMS:
    """A Video2RMS ONNX graph in an onnxruntime session, checked against the checkpoint's config.

    Parameters
    ----------
    graph : path or bytes
        The serialised ONNX model.
    config : Video2RMSConfig
        The checkpoint's config: the graph must take ``[batch, window_frames, input_dim]`` and give
        ``[batch, window_envelope_frames, n_classes]`` probabilities.
    threads : int
        onnxruntime's intra-op threads.

    Raises
    ------
    ValueError
        The graph does not load or its inputs and outputs do not fit ``config``.
    """

    def __init__(self, graph: str | os.PathLike | bytes, config: Video2RMSConfig,
                 threads: int = ONNX_CPU_THREADS) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = int(threads)
        options.log_severity_level = 3  # errors only: no optimiser notes on stderr
        source = graph if isinstance(graph, bytes) else str(graph)
        try:
            self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
            raise ValueError(f"not a loadable ONNX graph ({str(error).splitlines()[0]})") from None
        self.config = config
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        expected_in = [config.window_frames, config.input_dim]
        expected_out = [config.window_envelope_frames, config.n_classes]
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != expected_in:
            raise ValueError(f"the graph takes {[i.shape for i in inputs]}, the config [batch, {expected_in}]")
        if len(outputs) not in (1, 2) or list(outputs[0].shape[1:]) != expected_out:
            raise ValueError(f"the graph gives {[o.shape for o in outputs]}, the config [batch, {expected_out}]")
        if (len(outputs) == 2) != config.has_onset_head:
            raise ValueError(f"the graph has {len(outputs) - 1} onset output(s); the config "
                             f"{'has' if config.has_onset_head else 'has no'} onset head")
        self.input_name = inputs[0].name
        self.has_onset_head = len(outputs) == 2

    def window_outputs(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities ``[B, N, n_classes]`` and onset probabilities ``[B, N]`` (or None) of windows."""
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(windows, dtype=np.float32)})
        return outputs[0], outputs[1] if self.has_onset_head else None
