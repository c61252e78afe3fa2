"""The console's Textual app, run by ``soma_console.tui.app.run_console`` (imported lazily by the
``console`` command: ``soma_console.tui.app`` pulls in Textual) on an implementation of
:class:`soma_console.core.console_services.ConsoleServices`.
"""
