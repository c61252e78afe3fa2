"""The on-chain domain: one module per action, the reveal round, and the Modal cron's chain steps.

:class:`soma_console.core.lifecycle.Lifecycle` is the facade the command line and the console use.
"""
