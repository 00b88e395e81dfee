"""The ROS 2 package ros2/attnseg_ros: its manifest, entry point, parameters and launch file are checked here;
the rclpy node itself only where rclpy imports (never on the machines this was written on)."""
from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ros2" / "attnseg_ros"
sys.path.insert(0, str(PACKAGE))

from attnseg_ros.params import PARAMETERS, settings  # noqa: E402

from attnseg.engine import SegmentConfig, StreamConfig  # noqa: E402


def test_manifest_is_a_format_3_ament_python_package_with_its_runtime_deps():
    root = ET.parse(PACKAGE / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "attnseg_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs"} <= deps
    assert (PACKAGE / "resource" / "attnseg_ros").is_file()  # the ament index marker setup.py installs


def test_setup_installs_the_node_entry_point_and_the_launch_and_config_files():
    text = (PACKAGE / "setup.py").read_text()
    assert "attnseg_node = {PACKAGE}.node:main" in text
    assert list((PACKAGE / "launch").glob("*.launch.py")) and list((PACKAGE / "config").glob("*.yaml"))
    node = ast.parse((PACKAGE / "attnseg_ros" / "node.py").read_text())
    assert "main" in {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
    ast.parse((PACKAGE / "launch" / "attnseg.launch.py").read_text())


def test_default_parameters_build_valid_engine_configs():
    s = settings({})
    SegmentConfig(**s.segment)
    StreamConfig(**s.stream)
    assert s.model == {"checkpoint": None, "random_weights": True, "arch": "vit_small_8", "device": "cuda"}
    assert not s.reliable and s.qos_depth == 1 and s.label_encoding == "mono16"  # sensor-data QoS by default


def test_parameters_map_onto_the_engine():
    s = settings({"checkpoint": "/ckpt.pth", "height": 256, "width": 384, "tau": 2, "window": 4,
                  "reliability": "reliable", "backend": "onnxruntime", "engine": "/fe.onnx"})
    assert SegmentConfig(**s.segment).resolution == (256, 384) and s.segment["engine"] == "/fe.onnx"
    assert StreamConfig(**s.stream).window == 4 and s.stream["tau"] == 2.0 and s.reliable
    assert s.model["checkpoint"] == "/ckpt.pth" and not s.model["random_weights"]


@pytest.mark.parametrize("values,match", [
    ({"reliability": "sometimes"}, "best_effort or reliable"),
    ({"label_encoding": "16UC1"}, "mono16 or 32SC1"),
    ({"height": "tall"}, "height must be int"),
    ({"resolution": 3}, "unknown parameters"),
])
def test_bad_parameters_are_named(values, match):
    with pytest.raises(ValueError, match=match):
        settings(values)


def test_the_shipped_parameter_file_names_only_declared_parameters():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    params = yaml.safe_load((PACKAGE / "config" / "attnseg.yaml").read_text())["attnseg"]["ros__parameters"]
    settings(params)


def test_node_with_rclpy():
    pytest.importorskip("rclpy", reason="rclpy is not installable here (needs a ROS 2 distribution)")
    import rclpy
    from attnseg_ros.node import AttnsegNode
    from rclpy.parameter import Parameter

    rclpy.init()
    try:
        node = AttnsegNode(parameter_overrides=[Parameter("device", value="cpu"), Parameter("height", value=32),
                                                Parameter("width", value=48), Parameter("arch", value="vit_small_16")])
        assert node.get_parameter("reliability").value == "best_effort"
        assert node.count_subscribers("labels") == 0 and node.count_publishers("labels") == 1
        node.destroy_node()
    finally:
        rclpy.shutdown()
