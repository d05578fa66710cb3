"""Planning fixes from the analysis: the edits rules share, the readers of a model's output,
the loss-path fixes, and the migration units with their gate."""
