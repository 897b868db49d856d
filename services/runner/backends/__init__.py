"""Container backends behind one protocol: Docker now, Kubernetes for scale-out later."""

from services.runner.backends.base import (
    ContainerBackend,
    ContainerExit,
    ContainerSpec,
    ContainerState,
    Mount,
    OutputChunk,
)

__all__ = ["ContainerBackend", "ContainerExit", "ContainerSpec", "ContainerState", "Mount", "OutputChunk"]
