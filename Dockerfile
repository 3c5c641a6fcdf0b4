# The image's entry point is `quotebot`; pass the command: `docker run IMAGE telegram`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 QUOTEBOT_DB=/app/data/quotebot.db
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot bot
COPY dialogs dialogs
COPY rates rates
COPY templates templates
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --home /app quotebot \
    && mkdir -p /app/data && chown quotebot /app/data
USER quotebot
VOLUME /app/data
ENTRYPOINT ["quotebot"]
CMD ["chat"]
