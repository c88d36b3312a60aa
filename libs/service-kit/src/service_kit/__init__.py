"""The plumbing both services share, written once; each service keeps only its domain.

problems    problem details (RFC 9457) and the one error-to-HTTP translation
middleware  the request context: request id, body limit, access log, request metrics
log         JSON log lines carrying the request id
metrics     the Prometheus registry, request metrics and ``GET /metrics``
settings    ``ServiceSettings``, the knobs every service has
db          engine and session factory
deps        what routes get injected (``SessionsDep``)
health      ``/health/live`` and ``/health/ready``
openapi     the problems a route documents
timestamps  UTC timestamps and their one wire format
app         ``create_service_app``: all of the above wired around a service's routers
migrations  the alembic environment and ``upgrade_head``
cli         ``<service> migrate`` and ``<service> serve``
"""
