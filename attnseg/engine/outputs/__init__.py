"""Where results go: the one fan-out of every path, its writers and the one overlay drawer (see attnseg.engine)."""
