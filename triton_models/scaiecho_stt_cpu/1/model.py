# The model code lives in the scaiecho package (shared by every configuration and by the
# in-process node); this file only tells Triton's Python backend where to find it.
from scaiecho_module.engines.triton_model import TritonPythonModel  # noqa: F401
