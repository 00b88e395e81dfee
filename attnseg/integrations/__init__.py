"""Thin adapters to the systems users already run, each over the engine's public API, each optional.

- ros_node.py: the ROS 2 node (`attnseg-ros2`; rclpy, `pip install 'attnseg[ros2]'`), its parameters in
  ros_params.py, its work in ros_bridge.py (no ROS import), its messages' fields in ros_messages.py (pure
  functions). ros2/attnseg_ros packages the same node for colcon.
- rosbag.py: label maps into a rosbag2 without ROS (`rosbags`).
- zeromq.py: a zero-copy ZeroMQ publisher of results, and its subscriber.
- triton_model.py: the per-camera state of the Triton Inference Server model repository
  (written by `attnseg export --format triton-repo`).
- ray_batch.py: `attnseg batch --ray`, large video collections on a Ray cluster.
Nothing here is imported by the engine; each module imports its package lazily.
"""
