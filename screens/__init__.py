"""The terminal console (Textual). Imports ``console``; ``console`` never imports this."""
