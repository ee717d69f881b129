"""Uploaded files (photos, assembly-resolution scans, rosters), stored in the database."""
