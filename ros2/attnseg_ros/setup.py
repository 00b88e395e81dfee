"""ament_python package of the attnseg ROS 2 node (build it with colcon inside a ROS 2 workspace)."""
from glob import glob

from setuptools import setup

PACKAGE = "attnseg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="attnseg maintainers",
    maintainer_email="maintainers@attnseg.invalid",
    description="ROS 2 node for attnseg video object segmentation",
    license="MIT",
    entry_points={"console_scripts": [f"attnseg_node = {PACKAGE}.node:main"]},
)
