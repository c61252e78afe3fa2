"""The console's Textual app (imported lazily: ``soma_console.tui.app`` pulls in Textual).

``soma_console.tui.terminal.run_console(services, *, settings=None, mouse=True, options=None)``
runs it on the terminal, on an implementation of
:class:`soma_console.core.console_services.ConsoleServices`.
"""
