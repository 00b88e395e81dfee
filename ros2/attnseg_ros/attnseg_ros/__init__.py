"""attnseg as a ROS 2 node: params.py (declared parameters -> engine config, no ROS import), node.py (rclpy)."""
