"""The rules of the service: state machines and checks, one database transaction per step.

Routers (:mod:`esign_server.api`) translate HTTP into calls here; the CSC API and the mobile API
build on the same functions.
"""
