"""attnseg's benchmarks: scripts that time and check the library and write JSON records into results/.

Run each from the checkout's root as a module: `python -m benchmarks.NAME --help`. They share common.py (where
records go, the DAVIS clips of ../shared, the settings a benchmark varies, from attnseg.presets).
"""
