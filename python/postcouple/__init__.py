"""postcouple: SFT and RL post-training with a Rust core, and the coupling between them.

The compiled core is importable with only numpy installed::

    from postcouple.advantages import grpo
    from postcouple.packing import pack
    from postcouple.rewards import math_reward

Training (postcouple.train), the coupling experiment (postcouple.coupling) and
the training commands of the postcouple CLI need the train extra:
pip install 'postcouple[train]'.
"""

from postcouple._core import __version__

__all__ = ["__version__"]
