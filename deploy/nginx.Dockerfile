# syntax=docker/dockerfile:1
# nginx for docker-compose.yml: its config and the static files of this same checkout, so the
# files it serves are the ones whose hashes the app writes into its pages.
# Build from the repository root:  docker build -f deploy/nginx.Dockerfile -t jifen-nginx .
FROM nginx:1.28.0-alpine
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx.compose.conf /etc/nginx/conf.d/jifen.conf
COPY jifen/static /srv/jifen/static
EXPOSE 80
