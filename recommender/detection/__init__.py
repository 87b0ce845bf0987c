"""CAM detector internals; the public entry points are in `recommender.detect`."""
