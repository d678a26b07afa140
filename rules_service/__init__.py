"""The rules service: typed decision tables, their compiler to durable-rules, and a reference.

Analysts write decision tables (assignment, priority, strategy, alert) as JSON documents; the
compiler turns each version into a durable-rules ruleset, and the plain-Python reference evaluator
gives the same answers so simulation, static analysis and tests need no engine.

The service process (``python run.py rules run``) is :mod:`~rules_service.relay`: it consumes the
case database's outbox one case per transaction, works re-evaluation runs chunk by chunk between
events (:mod:`~rules_service.bulk_decide`), and rebalances collectors' cases
(:mod:`~rules_service.rebalance`); :mod:`~rules_service.daily_tick` is the scheduled DPD tick.
"""
