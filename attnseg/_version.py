"""The package version (its own module: the library reads it without importing the package front)."""
__version__ = "0.1.0"
