"""Checks that ``prefect deploy`` runs before it saves a deployment (build steps in prefect.yaml)."""

from __future__ import annotations

from data_catalog.errors import OptionError

CPU_DEPLOYMENTS = ("batch", "watcher", "preprocess", "nightly")


def require_gpu_image(image: str | None = None) -> dict:
    """Build step of the GPU deployments: refuse to save one without the GPU image.

    Parameters
    ----------
    image : ``{{ $SONORIZE_GPU_IMAGE }}`` as prefect.yaml resolves it (empty or the template
        itself when the variable is unset).

    Returns
    -------
    ``{"image": image}``, the step's output.
    """
    if not image or not image.strip() or "{{" in image:
        names = " ".join(f"--name {n}" for n in CPU_DEPLOYMENTS)
        raise OptionError(
            "SONORIZE_GPU_IMAGE is not set: GPU deployments run in that image. Build and push it "
            "(docker build -f docker/Dockerfile.gpu -t REGISTRY/sonorize-gpu:0.1.0 .) and deploy with "
            "SONORIZE_GPU_IMAGE=REGISTRY/sonorize-gpu:0.1.0 prefect --no-prompt deploy --all; "
            f"without GPUs deploy the CPU ones only: prefect --no-prompt deploy {names}")
    return {"image": image.strip()}
