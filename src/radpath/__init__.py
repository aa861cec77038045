"""radpath: a radiology-pathology integration study platform for breast cancer research.

The package is a library first: every CLI command is a thin layer over functions that take
explicit arguments, so the same steps run from a notebook. Importing radpath has no side effects.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("radpath")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
