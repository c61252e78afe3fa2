"""A local SOMA-compatible node (gRPC, faucet, blob store, scoring) that the real soma-sdk talks to."""
