"""sizeless: learn size-agnostic weight templates once, initialize timm models of any size."""

__version__ = "0.1.0"
