"""Thin adapters to the systems users already run, each over the engine's public API, each optional.

- ros_messages.py: sensor_msgs/Image and diagnostics fields as pure functions (the ROS 2 node in
  ros2/attnseg_ros builds its messages from them).
- rosbag.py: label maps into a rosbag2 without ROS (`rosbags`).
- zeromq.py: a zero-copy ZeroMQ publisher of results, and its subscriber.
- triton_model.py: the per-camera state of the Triton Inference Server model repository
  (written by `attnseg export --format triton-repo`).
- ray_batch.py: `attnseg batch --ray`, large video collections on a Ray cluster.
Nothing here is imported by the engine; each module imports its package lazily.
"""
