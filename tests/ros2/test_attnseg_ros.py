"""The ROS 2 (colcon) package ros2/attnseg_ros: its manifest, entry point and launch file, and the node's
parameters (attnseg.integrations.ros_params). The node itself runs against real rclpy in
tests/integrations/test_ros_node.py."""
from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from attnseg.engine import SegmentSettings, StreamSettings
from attnseg.integrations.ros_params import settings

PACKAGE = Path(__file__).resolve().parents[2] / "ros2" / "attnseg_ros"


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
    imported = {a.name for n in node.body if isinstance(n, ast.ImportFrom) and n.module == "attnseg.integrations.ros_node"
                for a in n.names}
    assert {"AttnsegNode", "main"} <= imported  # the same node as pip's attnseg-ros2
    ast.parse((PACKAGE / "launch" / "attnseg.launch.py").read_text())


def test_default_parameters_build_valid_engine_configs():
    s, node = settings({})
    assert isinstance(s.segment, SegmentSettings) and isinstance(s.stream, StreamSettings)
    # the device the machine has; official DINO weights from the cache (random ones only when asked for)
    assert (s.model.checkpoint, s.model.random_weights, s.model.arch, s.model.device) == (None, False, "vit_small_8",
                                                                                         "auto")
    assert node.reliability == "best_effort" and node.qos_depth == 1 and node.label_encoding == "mono16"  # sensor data


def test_parameters_map_onto_the_engine():
    s, node = settings({"checkpoint": "/ckpt.pth", "height": 256, "width": 384, "tau": 2, "window": 4,
                        "reliability": "reliable", "backend": "onnxruntime", "artifact": "/fe.onnx"})
    assert s.segment.resolution == (256, 384) and s.segment.artifact == "/fe.onnx"
    assert s.segment.window == 4 and s.segment.tau == 2.0 and node.reliability == "reliable"
    assert s.model.checkpoint == "/ckpt.pth" and not s.model.random_weights
    assert settings({"random_weights": True})[0].model.random_weights


@pytest.mark.parametrize("values,match", [
    ({"reliability": "sometimes"}, "best_effort or reliable"),
    ({"label_encoding": "16UC1"}, "mono16 or 32SC1"),
    ({"height": "tall"}, "height must be int"),
    ({"resolution": 3}, "unknown parameters"),
    ({"checkpoint": "/ckpt.pth", "random_weights": True}, "choose one weight source"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"height": 10**6}, "each side at most 4096"), ({"width": 10**6, "height": 320}, "each side at most 4096"),
    ({"qos_depth": 10**12}, "qos_depth must be at most 1000"), ({"qos_depth": 0}, "qos_depth = 0: must be >= 1"),
])
def test_bad_parameters_are_named(values, match):
    with pytest.raises(ValueError, match=match):
        settings(values)


def test_the_shipped_parameter_file_names_only_declared_parameters():
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    params = yaml.safe_load((PACKAGE / "config" / "attnseg.yaml").read_text())["attnseg"]["ros__parameters"]
    settings(params)
