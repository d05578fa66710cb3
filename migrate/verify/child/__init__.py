"""The verification child: runs in its own interpreter, started by `migrate.verify`.

Everything under this package may import torch at module level; nothing outside it may import
this package (the parent only starts it with `python -m migrate.verify.child`). This file itself
stays empty of imports so that `python -m` can locate `__main__` before torch is loaded, and a
missing torch is reported through the protocol instead of a traceback.
"""
