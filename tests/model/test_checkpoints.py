"""Every checkpoint format of SPEC 8 loads; bad ones are refused with every offending key listed."""
from __future__ import annotations

import io
import os
import urllib.error

import pytest
import torch
from safetensors.torch import save_file

from attnseg.model import CheckpointError, WeightsUnavailableError, build_frontend, read_checkpoint
from attnseg.model import weights as weights_mod
from tests.conftest import dino_full_checkpoint, paper_checkpoint, random_st_state_dict


def _check_backbone(model, sd):
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)


def test_plain_dino_state_dict(tmp_path, small_sd):
    path = tmp_path / "dino_deitsmall16_pretrain.pth"
    torch.save(small_sd, path)
    model, info = build_frontend("vit_small_16", checkpoint=str(path))
    assert info.format == "dino" and model.mode == "dino-only" and len(small_sd) == 150
    _check_backbone(model, small_sd)


def test_dino_full_checkpoint_uses_teacher(tmp_path, small_sd):
    path = tmp_path / "checkpoint.pth"
    torch.save(dino_full_checkpoint(small_sd), path)
    model, info = build_frontend("vit_small_16", checkpoint=str(path))
    assert info.format == "dino-full" and model.mode == "dino-only"
    _check_backbone(model, small_sd)  # teacher, not the (+1) student


def test_paper_checkpoint_loads_backbone_and_st(paper_ckpt, s8_sd):
    model, info = build_frontend("vit_small_8", checkpoint=str(paper_ckpt))
    assert info.format == "paper" and model.mode == "st" and len(info.sha256) == 64
    _check_backbone(model, s8_sd)
    raw = torch.load(paper_ckpt, weights_only=True)["model_state_dict"]
    st = {k.split("temporal_transformer.0.")[1]: v for k, v in raw.items() if k.startswith("temporal_transformer")}
    assert sum(v.numel() for v in st.values()) == 1_773_312
    torch.testing.assert_close(model.st.qk.weight, st["attn.qkv.weight"][:768])
    torch.testing.assert_close(model.st.norm1.bias, st["norm1.bias"])


def test_dino_weights_flag_ignores_st(paper_ckpt):
    model, info = build_frontend("vit_small_8", dino_weights=str(paper_ckpt))
    assert model.mode == "dino-only" and info.source == "dino-weights"


@pytest.mark.parametrize("layout", ["dino", "paper"])
def test_safetensors(tmp_path, s8_sd, layout):
    path = tmp_path / "w.safetensors"
    tensors = s8_sd if layout == "dino" else paper_checkpoint(s8_sd, random_st_state_dict())["model_state_dict"]
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    model, info = build_frontend("vit_small_8", checkpoint=str(path))
    assert info.format == "safetensors" and model.mode == ("st" if layout == "paper" else "dino-only")
    _check_backbone(model, s8_sd)


def test_bad_checkpoint_lists_missing_unexpected_and_misshaped(tmp_path, small_sd):
    sd = dict(small_sd)
    del sd["blocks.3.mlp.fc1.bias"], sd["norm.weight"]
    sd["blocks.0.extra"] = torch.zeros(1)
    sd["pos_embed"] = torch.zeros(1, 100, 384)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as e:
        build_frontend("vit_small_16", checkpoint=str(path))
    msg = str(e.value)
    assert "missing (2): blocks.3.mlp.fc1.bias, norm.weight" in msg
    assert "unexpected (1): blocks.0.extra" in msg
    assert "pos_embed (1, 100, 384) (expected (1, 197, 384))" in msg


def test_bad_st_block_is_refused(tmp_path, s8_sd):
    st = random_st_state_dict()
    st["attn.qkv.weight"] = torch.zeros(1152, 383)
    del st["mlp.fc2.bias"]
    path = tmp_path / "paper.pth"
    torch.save(paper_checkpoint(s8_sd, st), path)
    with pytest.raises(CheckpointError, match=r"ST block does not match: missing \(1\): mlp.fc2.bias; wrong shape"):
        build_frontend("vit_small_8", checkpoint=str(path))


def test_wrong_arch_gets_a_hint(tmp_path, small_sd):
    path = tmp_path / "s16.pth"
    torch.save(small_sd, path)
    with pytest.raises(CheckpointError, match="look like vit_small_16; build it as arch vit_small_16"):
        build_frontend("vit_small_8", checkpoint=str(path))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/attnseg_pwned",))


def test_arbitrary_pickle_is_not_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        read_checkpoint(path)
    assert not os.path.exists("/tmp/attnseg_pwned")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage", b"junk\n"])
def test_corrupt_files_are_refused(tmp_path, content):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt.pth"):
        read_checkpoint(path)
    bad_st = tmp_path / "corrupt.safetensors"
    bad_st.write_bytes(content)
    with pytest.raises(CheckpointError, match="safetensors"):
        read_checkpoint(bad_st)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_offline_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path))
    monkeypatch.delenv("ATTNSEG_OFFLINE", raising=False)

    def refuse(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", refuse)
    with pytest.raises(WeightsUnavailableError) as e:
        build_frontend("vit_small_8")
    assert str(tmp_path / "dino_deitsmall8_pretrain.pth") in str(e.value)
    assert "dino_deitsmall8_pretrain.pth" in str(e.value) and "random weights" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_download_into_cache(tmp_path, monkeypatch, small_sd):
    buf = io.BytesIO()
    torch.save(small_sd, buf)
    monkeypatch.setenv("ATTNSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ATTNSEG_OFFLINE", raising=False)
    seen = []

    def fake_urlopen(url, timeout):
        seen.append(url)
        return io.BytesIO(buf.getvalue())

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", fake_urlopen)
    model, info = build_frontend("vit_small_16")
    assert seen == [weights_mod.DINO_URLS["vit_small_16"]] and info.source == "dino-cache"
    _check_backbone(model, small_sd)
    build_frontend("vit_small_16")  # second time from the cache, no download
    assert len(seen) == 1


def test_a_state_dict_with_foreign_keys_is_one_short_line(tmp_path, s8_sd):
    """Every key renamed (another model's layout): the message counts them and names the first few, not 150."""
    path = tmp_path / "other.pth"
    torch.save({f"model.{k}": v for k, v in s8_sd.items()}, path)
    with pytest.raises(CheckpointError) as err:
        build_frontend("vit_small_8", checkpoint=str(path))
    msg = str(err.value)
    assert len(msg) < 600 and "\n" not in msg, msg
    assert "missing (150)" in msg and "and 147 more" in msg


def deflated_checkpoint(path, records: dict[str, int]):
    """A real torch zip checkpoint of one small tensor, whose records named in `records` are replaced by that many
    zero bytes, deflated (megabytes on disk, gigabytes declared)."""
    import zipfile

    small = path.with_suffix(".small")
    torch.save({"w": torch.zeros(8)}, small)
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w", compresslevel=1) as dst:
        names = src.namelist()
        data_name = next(n for n in names if n.endswith("/data/0"))
        for name in names:
            if name != data_name:
                dst.writestr(src.getinfo(name), src.read(name))
        for suffix, size in records.items():
            info = zipfile.ZipInfo(data_name[:-1] + suffix)
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w", force_zip64=True) as out:
                block = bytes(64 << 20)
                for _ in range(size // len(block)):
                    out.write(block)
    small.unlink()
    return path


def test_declared_sizes_are_checked_before_anything_is_read(tmp_path):
    """A checkpoint whose zip record declares 2 GiB in a 2 MB file reached 2.5 GB before it was refused for its
    shape: the declared sizes are now checked first, in one line, in little memory (1 GiB here: as telling, and
    half the time to deflate)."""
    import subprocess
    import sys

    bomb = deflated_checkpoint(tmp_path / "bomb.pth", {"0": 1 << 30})
    assert bomb.stat().st_size < 4 << 20
    probe = ("import sys\nfrom attnseg.model.checkpoints import read_checkpoint\ntry:\n    read_checkpoint(sys.argv[1])\n"
             "except Exception as e:\n    print(type(e).__name__, e)\n"
             "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) // 1024)")
    run = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True, timeout=120)
    said, peak_mb = run.stdout.strip().splitlines()
    assert said == (f"CheckpointError {bomb}: its record bomb/data/0 declares 1024 MiB, more than any tensor of a "
                    "supported checkpoint (256 MiB): not read"), run.stderr
    assert int(peak_mb) < 800
    many = deflated_checkpoint(tmp_path / "many.pth", {"0": 64 << 20, "1": 64 << 20, "2": 64 << 20})
    with pytest.raises(CheckpointError, match=r"declare 192 MiB in a file of 0\.\d MiB .*: not read"):
        read_checkpoint(many)


def test_a_missing_or_foreign_checkpoint_says_where_to_look(tmp_path):
    """A newcomer's two dead ends: a missing file names the README's Weights section, a .pth of another kind
    (a training checkpoint with its optimizer, say) names the formats attnseg reads."""
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*README's Weights section"):
        read_checkpoint(tmp_path / "checkpoint_dino-s-8.pth")
    foreign = tmp_path / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "epoch": 3, "optimizer": {"lr": 0.1}}, foreign)
    with pytest.raises(CheckpointError, match=r"is not a checkpoint format attnseg reads: .*docs/checkpoints.md"):
        read_checkpoint(foreign)
