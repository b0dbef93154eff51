# The model code lives in the scaiecho package (shared with the in-process node); this file
# only tells Triton's Python backend where to find it.
from scaiecho_module.engines.triton_speaker_model import TritonPythonModel  # noqa: F401
