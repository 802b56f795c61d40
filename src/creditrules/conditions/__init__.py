"""The condition language: tokens, parser, syntax tree, and the reference evaluator
(the independent oracle the engine is tested against)."""
