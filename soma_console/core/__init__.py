"""The console's core: the chain, the journal, storage, weights and the on-chain actions; no UI code."""
