"""Central's connector to the platforms it serves (docs/platform.md).

Outbound: the registry's objects and the sites' attendance are planned into a durable queue in
the central store (``planner``, ``queue``) and delivered by ``deliver`` through one adapter per
platform profile (``national``: the national OpenAPI; ``guangzhou``: MD5 signature with
``des:`` fields), on the schedules and deadlines of the project's province (``schedule``).
Inbound: banks push special-account events and flows (``bank``).  ``fake`` is a rehearsal
platform built from the documented conventions alone; it imports nothing of the client.
"""
