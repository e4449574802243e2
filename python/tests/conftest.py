import os
import pathlib

import pytest
import torch

import sds

SOURCE_DIR = pathlib.Path(os.environ.get("SDS_SOURCE_DIR", pathlib.Path(__file__).parents[2]))


@pytest.fixture
def source_dir():
    return SOURCE_DIR


@pytest.fixture
def exact_prior():
    return sds.ExactPrior(conditioning="camera")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
