//! The exchange simulator: a WebSocket server on loopback speaking a venue protocol.
