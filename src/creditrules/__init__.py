"""creditrules: partnership agreements as executable, checkable rules."""

__version__ = "0.1.0"
__all__ = ["__version__"]
