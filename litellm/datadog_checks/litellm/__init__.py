from .__about__ import __version__
from .check import LitellmCheck

__all__ = ['__version__', 'LitellmCheck']
