"""Points: applications and their judging (verification, certification, public notice, objections)
and the ledger they post to."""
