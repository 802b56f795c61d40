"""The lawyers' tools: the rendered agreement, diffs between versions, worked cases,
the editor schema and the starter agreement."""
