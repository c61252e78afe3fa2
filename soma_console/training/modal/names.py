"""The names soma-console's Modal apps are deployed and called under, and the GPUs they may ask for.

One place for them: the apps (``app``, which imports ``modal``), the client side
(``client``, ``backend``, ``cron``, which must not import it at once) and the
settings all read them from here.
"""

from __future__ import annotations

DEFAULT_APP = "soma-console"
DEFAULT_CRON_APP = "soma-console-cron"
DEFAULT_VOLUME = "soma-console-runs"
DEFAULT_GPU = "A100"
# GPU types a run may ask for: the ones the V1 model (fp32 Adam state ~18 GiB) trains on comfortably.
GPU_TYPES = ("A100", "A100-40GB", "A100-80GB", "H100", "H200")
MAX_GPUS = 8

VOLUME_MOUNT = "/vol"  # where the Volume is mounted in every container
TRAIN_FUNCTION = "train"
CRON_FUNCTION = "cron_round"
REVEAL_FUNCTION = "reveal_round"
