"""The real StarCraft II backend: a pool of worker processes, each running one SMAC ``StarCraft2Env``.

``install`` finds the game and chooses ``backend=auto``; ``pool`` is the batched environment; ``worker``
is the process main loop. This package imports nothing itself, so a worker process stays light.
"""
