FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAPERBOT_CONFIG=/app/config.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 paperbot \
    && mkdir -p /data \
    && chown paperbot:paperbot /data

# The database lives on a volume; point storage.path at it (see config.example.toml).
COPY config.example.toml /app/config.example.toml
RUN sed 's#^path = "paperbot.db"#path = "/data/paperbot.db"#' /app/config.example.toml > /app/config.toml
VOLUME ["/data"]

USER paperbot
# Asks /healthz when [ops] listen is set (e.g. "0.0.0.0:9108"); passes when it is not, as there is nothing to ask.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "bot.ops.probe"]
# Pass the token at run time: docker run -e DISCORD_TOKEN=... -v paperbot-data:/data paperbot
CMD ["paperbot", "run"]
