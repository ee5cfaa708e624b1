"""Pure logic of the Nuke plugin; importable and testable without Nuke."""
