"""The ``frostbyte`` command line and the HTTP clients it (and the demo, the benchmark) use."""
