"""Hooks that bring postcouple's coupling diagnostics into other trainers.

- :mod:`postcouple.integrations.trl` — ``CouplingCallback``, a
  ``transformers.TrainerCallback`` for any ``Trainer`` (TRL's ``GRPOTrainer``
  and ``SFTTrainer`` included).

Importing this package imports nothing heavy: transformers and torch are
imported only by the submodule that needs them, so ``import postcouple`` and
the numpy-only core stay free of them.
"""

__all__: list[str] = []
