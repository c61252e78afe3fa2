"""The devnet's rule engine: the chain's state and transactions in pure Python, no network."""
