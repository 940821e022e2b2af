"""Video2RMS as an ONNX graph, so that inference runs on onnxruntime without PyTorch.

The graph is one model window: features ``[batch, window_frames, input_dim]``
(float32, normalised as the model expects) to class probabilities
``[batch, window_envelope_frames, n_classes]`` (the softmax of the head) and,
for a model with an onset head, onset probabilities
``[batch, window_envelope_frames]`` (its sigmoid): what
:func:`~folai_models.video2rms.decode.predict_outputs` crossfades. The batch
axis is dynamic, the time axis is fixed at ``config.window_frames``: inference
pads every window to that length, a ``"linear"`` model's weights fix it, and a
fixed length lets the ``"nearest-exact"`` upsampling become exact index gathers.

Exporter: ``torch.onnx.export(dynamo=False)`` (TorchScript tracing). In this
install's torch 2.14 the dynamo exporter also produces a working graph but
spends 5-8 minutes in ``torch.export`` on the 2-layer BiLSTM (measured on 2
busy cores) and needs onnxscript; tracing takes 4-11 s. The TorchScript exporter
has no ``aten::_upsample_nearest_exact1d``; :func:`_nearest_exact_1d` adds it as
a ``Gather`` whose indices PyTorch's own interpolation computes, so the graph
picks the same source frames as the model.
"""

from __future__ import annotations

import io
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from folai_models.video2rms.model import Video2RMS

__all__ = ["ONNX_OPSET", "INPUT_NAME", "OUTPUT_NAMES", "WindowGraph", "export_video2rms_onnx"]

ONNX_OPSET = 17  # LSTM with batch-first layout exported via Transpose; onnxruntime >= 1.14 runs opset 17
INPUT_NAME = "features"
OUTPUT_NAMES = ("probabilities", "onset_probabilities")


class WindowGraph(nn.Module):
    """What the ONNX graph computes: class (and onset) probabilities of a batch of windows."""

    def __init__(self, model: Video2RMS) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor):
        logits, onset_logits = self.model.forward_with_onsets(features)
        probabilities = torch.softmax(logits.float(), dim=-1)
        if onset_logits is None:
            return probabilities
        return probabilities, torch.sigmoid(onset_logits.float())


def _nearest_exact_1d(g, values, output_size, scales):
    """ONNX for ``F.interpolate(x [B, C, T], size, mode="nearest-exact")`` at a traced (fixed) length."""
    from torch.onnx import symbolic_helper

    n_in = symbolic_helper._get_tensor_sizes(values)[-1]
    size = symbolic_helper._maybe_get_const(output_size, "is")
    if not isinstance(n_in, int) or len(size) != 1:
        raise RuntimeError("nearest-exact upsampling exports only at a fixed length")
    source = torch.arange(n_in, dtype=torch.float32)[None, None]
    index = F.interpolate(source, size=[int(size[0])], mode="nearest-exact")[0, 0].long()  # PyTorch's own choice
    return g.op("Gather", values, g.op("Constant", value_t=index), axis_i=2)


def export_video2rms_onnx(model: Video2RMS) -> bytes:
    """The ONNX graph of ``model``'s window (see the module docstring), serialised.

    Parameters
    ----------
    model : Video2RMS
        Exported in eval mode on the CPU (BatchNorm statistics, no dropout); left as it was.

    Returns
    -------
    bytes
        An ONNX ``ModelProto`` (opset :data:`ONNX_OPSET`); input :data:`INPUT_NAME`, outputs
        :data:`OUTPUT_NAMES` (the first only without an onset head).
    """
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("aten::_upsample_nearest_exact1d", _nearest_exact_1d, ONNX_OPSET)
    config = model.config
    was_training, device = model.training, next(model.parameters()).device
    graph = WindowGraph(model).cpu().eval()
    outputs = list(OUTPUT_NAMES if model.onset_head is not None else OUTPUT_NAMES[:1])
    example = torch.zeros(2, config.window_frames, config.input_dim)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # tracing warns that Python ints (the window's length) become constants: intended, the length is fixed;
            # and that an LSTM with a batch other than 1 may not generalise: its zero initial state is built
            # from the input's shape (tested with other batch sizes)
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=ONNX_OPSET,
                              input_names=[INPUT_NAME], output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *outputs]})
    finally:
        model.to(device).train(was_training)
    return buffer.getvalue()
