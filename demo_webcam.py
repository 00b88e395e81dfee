"""Live webcam demo: arrives with the streaming runtime (see the streaming issue).

Until then, segment a recorded clip offline:
    attnseg segment VIDEO.mp4 --overlay overlay.mp4
"""
import sys

if __name__ == "__main__":
    print("demo_webcam.py: the live demo arrives with the streaming runtime; "
          "use `attnseg segment VIDEO --overlay out.mp4` for now", file=sys.stderr)
    sys.exit(2)
