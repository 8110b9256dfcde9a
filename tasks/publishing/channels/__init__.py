"""Channel adapters: each turns a rendered message into one delivery attempt and a verdict."""
