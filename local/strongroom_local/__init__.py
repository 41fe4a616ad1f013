"""The embedded local stack: moto in-process with the resources template.yaml declares, and real
HTTP turned into API Gateway HTTP API (payload v2.0) events for the same handlers Lambda runs.

    from strongroom_local import LocalStack

    with LocalStack(port=0) as stack:
        ...  # stack.url, stack.resources.refs["Table"], stack.invoke("HealthFunction", event)
"""

from strongroom_local import pipelines  # noqa: F401 - registers the stream and queue workers
from strongroom_local.server import LocalStack
from strongroom_local.workers import Worker, WorkerContext, register_worker

__all__ = ["LocalStack", "Worker", "WorkerContext", "register_worker"]
