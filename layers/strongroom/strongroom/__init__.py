"""Strongroom's shared layer: the code every function stands on.

Nothing here touches AWS or the environment at import time.
"""
