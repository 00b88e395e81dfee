"""`attnseg info`: the machine, versions, auto's choices read from the cache, and the cached weights."""
from __future__ import annotations

import json

import torch

from attnseg.cli import main


def test_info_reports_the_machine_and_what_auto_would_choose(artifact_cache, capsys):
    from attnseg.engine.backends import auto_choices_path, host_key
    from attnseg.model.weights import cached_dino_path

    here = {**host_key(), "arch": "vit_small_8", "batch": 8, "mode": "st", "resolution": [320, 480]}
    elsewhere = {**here, "capability": "NOT-THIS-CPU"}
    auto_choices_path().parent.mkdir(parents=True)
    auto_choices_path().write_text(json.dumps({
        json.dumps(here, sort_keys=True): {"choice": "onnxruntime", "seconds": {"eager": 1.2, "onnxruntime": 0.9}},
        json.dumps(elsewhere, sort_keys=True): {"choice": "eager", "seconds": {"eager": 1.0, "onnxruntime": 2.0}}}))
    cached_dino_path("vit_small_16").write_bytes(b"\0" * 2**20)

    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    m, v, c = report["machine"], report["versions"], report["choices"]
    assert m["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and m["cores"] >= 1
    assert m["memory"]["total_gib"] > 0 and (m["gpus"] == []) == (not torch.cuda.is_available())
    assert v["torch"] == torch.__version__ and v["cuda"] == torch.version.cuda
    assert c["device"]["choice"] == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        assert c["kernels"]["choice"] == "torch" and c["certified_products"]["choice"] in ("fp32", "bf16")
        if "AVX512" not in m["cpu_capability"]:
            assert c["certified_products"]["choice"] == "fp32"  # never a low-precision path without a probe
        if v["onnxruntime"]:  # only this CPU's measurement, not the other machine's
            seconds = {"eager": 1.2, "onnxruntime": 0.9}
            assert c["backend"]["measured"] == [{"arch": "vit_small_8", "resolution": [320, 480], "batch": 8,
                                                 "choice": "onnxruntime", "seconds": seconds}]
    assert list(report["cache"]["dino_weights"]) == ["vit_small_16"] and report["cache"]["dir"] == str(artifact_cache)

    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for line in ("machine", "versions", "what auto would choose here", f"instructions   {m['cpu_capability']}",
                 "DINO vit_small_16"):
        assert line in text
    if not torch.cuda.is_available() and v["onnxruntime"]:
        assert "vit_small_8 320x480 batch 8: onnxruntime (eager 1200 ms, onnxruntime 900 ms)" in text
