"""Code both planes share, kept small: error base, canonical JSON, audit hash chain,
tenant configuration contract, and the switches that keep libraries offline."""
