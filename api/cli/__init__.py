"""The ``eseal`` command. JSON on stdout; errors as problem objects on stderr.

Exit codes: 0 done, 1 refused (a problem object says why), 2 usage error; ``eseal verify``
answers 0 valid, 1 not valid, 2 could not process (:mod:`api.cli.output`).

One module per command group, each with its ``cmd_*`` functions and a ``register`` that adds
them to the parser (:mod:`api.cli.parser`): ``server`` (init, serve), ``apikey``,
``enterprise``, ``seal``, ``documents`` (sign, verify, extend), ``archive``, ``keys``, ``pki``;
what they share is in ``common`` and ``output``; ``run`` holds :func:`main`.

Start-up is kept cheap (``bench/cli_startup.py``): the modules import only the standard
library and the domain's vocabulary at the top; pyHanko, SQLAlchemy, FastAPI and the settings
are imported inside the commands that use them, so ``eseal --help`` does not load them.  The
argparse ``choices`` come from :mod:`seals.vocab`, whose enums bring pydantic along (through
``seals.license``): about 0.14 s of CPU, well within the 0.7 s target, and the price of one
word list for the CLI, the HTTP models and the database.
"""

from __future__ import annotations

from .run import main

__all__ = ["main"]
