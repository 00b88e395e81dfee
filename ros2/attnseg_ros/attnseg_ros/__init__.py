"""attnseg as a ROS 2 (ament_python) package: the node is attnseg.integrations.ros_node, its parameters
attnseg.integrations.ros_params; this package adds the ament index entry, the launch file and the parameter file."""
