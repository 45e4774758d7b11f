"""eseal: signer — PDF sealing and verification on pyHanko."""

from . import speedups as _speedups

_speedups.install()
