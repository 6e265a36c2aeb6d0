"""Database room: models, numbered migrations, the `Database` seam, backup and checks."""
