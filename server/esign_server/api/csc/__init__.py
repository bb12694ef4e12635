"""The Cloud Signature Consortium API: ``/csc/v2/...`` (v2.0.0.2) and ``/csc/v1/...`` (v1.0.4.0 names)."""

from esign_server.api.csc.routes import make_router, router_v1, router_v2

routers = (router_v2, router_v1)

__all__ = ["make_router", "router_v1", "router_v2", "routers"]
