"""The agreement: reading ruleset files (YAML, schema, amendments, policies) into the
frozen :class:`~creditrules.agreement.ruleset.Ruleset` model."""
