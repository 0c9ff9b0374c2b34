"""Scale-out on Ray: segments of long videos on model-holding actors, joined losslessly by the driver.

``run_on_ray`` is the driver (the ``--ray`` path of ``vidsr run``); ``SegmentWorker`` is the actor;
``submit_job`` is ``vidsr submit`` through Ray's Job Submission API.
"""

from workers.config import RayConfig
from workers.executor import Job, run_on_ray

__all__ = ["RayConfig", "Job", "run_on_ray"]
