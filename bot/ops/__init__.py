"""Operations: graceful stop, maintenance (retention, vacuum), backups, health and metrics."""
