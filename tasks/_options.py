"""Task defaults shared by every task in the package."""

from prefect.cache_policies import NONE

# Arrays pass between tasks in memory; resuming is keyed on content by the
# flow (sha256 of the video + settings), so Prefect's own result cache and
# result persistence stay off.
TASK_DEFAULTS = {"cache_policy": NONE, "persist_result": False}
