"""The live demo, from a checkout: the same as `attnseg demo` (installed with the package; see its --help).

    python demo_webcam.py                          # camera 0: a window if there is a display, else the page
    python demo_webcam.py --source clip.mp4 --page
"""
import sys

from attnseg.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
