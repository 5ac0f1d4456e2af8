"""Pure domain logic of the data plane: no I/O, no framework imports."""
