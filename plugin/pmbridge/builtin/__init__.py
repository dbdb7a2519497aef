"""Built-in plugins: registered by ``create_plugin_manager`` exactly like third-party ones (and blockable too)."""
