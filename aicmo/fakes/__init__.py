"""Local fake servers that speak real APIs' shapes (installed as ``aicmo.fakes`` for the demo).

``provider_server.FakeProviderServer``: Stripe, GitHub, OpenWeather and a Clearbit-style Company
API on one 127.0.0.1 port, with faults on demand (``faults.FaultPlan``).
"""
