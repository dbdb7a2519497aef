"""The user data streams: listen keys, sockets (raw and combined-stream protocol), and the wire frames per account
type."""
