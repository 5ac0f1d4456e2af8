"""Use cases of the data plane; they call ports, never libraries directly."""
