"""Between the wire and the engine: protobuf messages <-> engine values.

``incoming`` turns requests into engine values (and refuses malformed ones with
:class:`~soma_console.devnet.convert.incoming.BadRequest`); ``outgoing`` turns the engine's
values into the messages the SDK reads.
"""
