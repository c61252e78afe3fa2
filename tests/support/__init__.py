"""Test support: made-up data and services for the console tests that cannot use a devnet."""
