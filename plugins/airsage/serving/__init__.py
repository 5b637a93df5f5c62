"""Serving: the SageMaker inference contract behind a real HTTP model server.

- ``contract``: request parsing and response formatting shared by ``include/jobs/inference.py``
  (the entry point a SageMaker framework container runs) and the local server.
- ``server``: ``GET /ping``, ``POST /invocations`` routed to production variants by weight,
  ``GET /metrics`` and a loopback-only admin API; ``main(argv)`` is ``airsage serve``.
- ``capture``: Model Monitor data capture, written off the request path.
- ``local``: ``LocalEndpointDeployer``, blue/green deployment with automatic rollback.

Nothing heavy is imported here: the server and deployer import their engines when used.
"""
