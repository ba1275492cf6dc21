"""The leaderboard API (JSON, for everyone signed in)."""
