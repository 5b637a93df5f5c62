"""Serving: the SageMaker inference contract behind a real HTTP model server.

- ``contract``: request parsing and response formatting shared by ``include/jobs/inference.py``
  (the entry point a SageMaker framework container runs) and the local server.
- ``endpoint``: an endpoint's variants, weighted routing, metrics and capture (no network);
  requests of one event-loop turn share a ``predict_fn`` call.
- ``app``: the Starlette app: ``GET /ping``, ``POST /invocations`` (the container contract),
  ``POST /endpoints/{name}/invocations`` (the SageMaker Runtime API), ``GET /metrics`` and a
  loopback-only admin API.
- ``runtime_api``: the runtime API's header checks and error shapes, as botocore parses them.
- ``server``: the process: the app under uvicorn, the state file; ``main(argv)`` is
  ``airsage serve``.
- ``workers``: ``serving.workers`` > 1: a supervisor and N server processes on one port,
  every admin change applied to all of them, their metrics merged.
- ``client``: boto3's ``sagemaker-runtime`` client for an endpoint, local or on AWS.
- ``capture``: Model Monitor data capture, written off the request path.
- ``base``: the settings, result shapes and the deployer's interface (``EndpointDeployer``).
- ``request``: the deploy step's request (``deployment_request``: model version, variant,
  instances, data capture, blue/green config), pure and JSON-safe.
- ``local``: ``LocalEndpointDeployer``, blue/green deployment with automatic rollback.
- ``aws``: ``SageMakerEndpointDeployer``: the endpoint created, updated blue/green, and its
  variant under Application Auto Scaling.

Nothing heavy is imported here: the server and deployer import their engines when used.
"""
