"""`engage notify`: tutors' digests of new alerts, by webhook and email."""
