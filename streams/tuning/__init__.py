"""Per-process tuning: the garbage collector and handing freed memory back."""
