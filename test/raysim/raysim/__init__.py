"""raysim: a simulated Ray GCS (gRPC) for raydar's tests.

The package holds the pieces of the simulator; the entry point is
../raysim.py. See docs/simulator.md.
"""
