"""FrameBridge server: the ZeroMQ front, the job manager, ops and model backends."""

__version__ = "0.1.0"
