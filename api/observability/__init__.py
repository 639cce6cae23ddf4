"""What an operator watches the service with: metrics, a JSON log, request ids.

- ``request_context``: the request being served (its id and query kind), in a
  context variable, so a log line or a route can name it without passing it on;
- ``middleware``: one pure ASGI middleware that gives each request its id
  (``X-Request-ID``), counts and times it, and writes its access-log line;
- ``metrics``: the Prometheus collectors (prometheus-client), declared once,
  and their exposition, one process or several (``PROMETHEUS_MULTIPROC_DIR``);
- ``logs``: the JSON log format every line (access, application, uvicorn)
  is written in, configured once by ``marketplace serve``.
"""
