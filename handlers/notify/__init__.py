"""The notification path in Alertmanager's shape: silence → inhibit → dedup → retry → record."""
