# The bot as a server: `docker run IMAGE` runs `quotebot serve` on port 8080 (Telegram and LINE
# webhooks, /healthz, /metrics); data in the volume /app/data. Any other command works too:
# `docker run -it IMAGE chat`. See compose.yaml and the README's "Running on a server".
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QUOTEBOT_DB=/app/data/quotebot.db \
    QUOTEBOT_LISTEN=0.0.0.0:8080
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot bot
COPY dialogs dialogs
COPY rates rates
COPY templates templates
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin quotebot \
    && mkdir -p /app/data \
    && chown quotebot /app/data
USER 10001
EXPOSE 8080
VOLUME ["/app/data"]
# 200 from /healthz: the store answers and the outbox is draining (`quotebot health` prints why not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["quotebot", "health"]
# SIGTERM: stop taking requests, let sends in flight finish, exit 0 (compose gives it 40 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["quotebot"]
CMD ["serve"]
