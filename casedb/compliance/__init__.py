"""The compliance engine: contact gate, policies, script audit, replay."""
