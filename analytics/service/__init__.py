"""The service façade: the only code that takes a Workspace (see design.md, "One entrance")."""
