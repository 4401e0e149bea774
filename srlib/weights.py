"""``srlib.weights.load_model(path)``, as the course model cards say (``srlib.course`` writes that line).

Checkpoint reading, key mapping and pretrained models are in ``srlib.hub``; ncnn files in ``srlib.ncnn``.
"""

from srlib.hub import load_model

__all__ = ["load_model"]
