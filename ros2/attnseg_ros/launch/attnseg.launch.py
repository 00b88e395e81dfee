"""ros2 launch attnseg_ros attnseg.launch.py image:=/camera/image_raw checkpoint:=/path/ckpt.pth"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    params = os.path.join(get_package_share_directory("attnseg_ros"), "config", "attnseg.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="input sensor_msgs/Image"),
        DeclareLaunchArgument("checkpoint", default_value="", description="paper checkpoint"),
        Node(package="attnseg_ros", executable="attnseg_node", name="attnseg", output="screen",
             parameters=[params, {"checkpoint": LaunchConfiguration("checkpoint")}],
             remappings=[("image", LaunchConfiguration("image"))]),
    ])
