import pytest

from lib import config, models, sampling


@pytest.fixture(scope="session")
def ci_config():
    return config.load("ci", "01")


@pytest.fixture(scope="session")
def loaded_model(ci_config):
    if not models.is_ready(ci_config.model):
        pytest.fail("the small model is not fetched yet: run `make model` (tests never download)")
    return models.load(ci_config.model)


@pytest.fixture(scope="session")
def backend(loaded_model):
    return sampling.TransformersBackend(loaded_model, score_batch_size=64, sample_batch_size=500)
