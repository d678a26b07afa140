"""The rules service: typed decision tables, their compiler to durable-rules, and a reference.

Analysts write decision tables (assignment, priority, strategy, alert) as JSON documents; the
compiler turns each version into a durable-rules ruleset, and the plain-Python reference evaluator
gives the same answers so simulation, static analysis and tests need no engine.
"""
