"""The archive's one write path: articles, stories, statements and their alerts, seeds; and the
counts read back from it. No other room writes archive rows."""
