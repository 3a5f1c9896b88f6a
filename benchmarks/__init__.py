"""Benchmark scripts (not tests): each prints one JSON line per measurement and a summary table."""

import os

# The environment as the shell gave it, before a benchmark imports torch: importing it sets variables
# (TORCHINDUCTOR_CACHE_DIR, and Lightning's PYTORCH_NVML_BASED_CUDA_CHECK) that a user's command lacks.
SHELL_ENV = dict(os.environ)
