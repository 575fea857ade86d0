# Postbox application image: slim base, non-root user, no build tools in the final layer.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY postbox ./postbox
COPY storage ./storage
COPY crypto ./crypto
COPY web ./web
COPY cli ./cli
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/postbox --create-home postbox
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels postbox && rm -rf /wheels
USER postbox
WORKDIR /var/lib/postbox
ENV POSTBOX_HOME=/var/lib/postbox PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", "web:create_app()"]
