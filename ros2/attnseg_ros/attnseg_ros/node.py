"""`ros2 run attnseg_ros attnseg_node`: the node of attnseg.integrations.ros_node (pip's `attnseg-ros2`)."""
import sys

from attnseg.integrations.ros_node import AttnsegNode, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
