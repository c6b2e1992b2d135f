"""The sampling plan: design + family -> how each random-effect block is sampled or integrated out, and why
(numpy only; :func:`make_plan`, records in :mod:`.records`)."""
from .choose import can_marginalize, make_plan
from .records import AliasPlan, BlockPlan, ModelPlan, ParentPlan

__all__ = ["make_plan", "can_marginalize", "ModelPlan", "BlockPlan", "AliasPlan", "ParentPlan"]
