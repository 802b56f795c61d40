"""The matching engine: the only code that talks to durable_rules. Conditions are
encoded as features (ranks, indexes), compiled into engine rulesets within the engine's
structural limits, and matched."""
