"""Shared fixtures (keep small)."""

import pytest
import torch

# The test models are tiny: one intra-op thread is as fast alone and far faster when the 2 cores are
# shared (torch's spinning worker threads slowed small-model training 10-20x at load ~7).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory):
    """A per-session folder for trained model weights: each model trains at most once per test session."""
    return tmp_path_factory.mktemp("model-cache")
