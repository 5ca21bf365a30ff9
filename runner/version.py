"""The runner's version, in a module of its own so that anything may import it without
importing the package's face (which loads the loader and the API on demand)."""

__version__ = "0.1.0"
